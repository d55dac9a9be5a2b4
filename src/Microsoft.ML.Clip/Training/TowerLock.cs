using System;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// Which parameters of one tower stay fixed while the rest of the model trains: LiT's locked image tower
/// ("lock-image" in open_clip), or a locked text tower, optionally with its last blocks, its head or its norms left
/// free. Set it on <see cref="ClipTrainerOptions.ImageTowerLock"/> or <see cref="ClipTrainerOptions.TextTowerLock"/>.
/// </summary>
/// <remarks>
/// <para>A locked parameter gets no gradient (<c>requires_grad</c> false for the run), no optimizer state and no
/// weight decay, so it ends the run bit-identical. A module whose parameters are all locked runs in eval mode: a
/// ResNet tower's BatchNorm normalises with its running statistics and leaves them unchanged, a ViT's patch dropout is
/// off when the whole tower is locked.</para>
/// <para>The blocks are the tower's residual blocks in order (ViT and text: <c>transformer.resblocks.N</c>; ModifiedResNet:
/// the bottlenecks of <c>layer1</c> … <c>layer4</c>); the head is what follows them (ViT: <c>ln_post</c>, <c>proj</c>;
/// text: <c>ln_final</c>, <c>text_projection</c>; ModifiedResNet: <c>attnpool</c>); the norms are every LayerNorm and
/// BatchNorm of the tower. <c>logit_scale</c> and <c>logit_bias</c> belong to no tower and always train.</para>
/// <para>With everything locked (<see cref="Full"/>) the tower's features are computed without autograd and, with
/// <see cref="ClipTrainerOptions.CacheLockedTowerFeatures"/>, reused across epochs, so a LiT step costs about one tower.</para>
/// </remarks>
public sealed record TowerLock
{
    /// <summary>The whole tower locked, head and norms included (LiT).</summary>
    public static TowerLock Full { get; } = new();

    /// <summary>The last <paramref name="blocks"/> residual blocks and the head train, the rest is locked (open_clip's unlocked groups/layers).</summary>
    /// <param name="blocks">Trained blocks counted from the output end; 0 trains only the head.</param>
    /// <param name="trainNorms">Also train every norm of the locked part (open_clip's lock_text_freeze_layer_norm = false).</param>
    public static TowerLock AllButLast(int blocks, bool trainNorms = false) => new() { TrainedBlocks = blocks, TrainHead = true, TrainNorms = trainNorms };

    /// <summary>Residual blocks left trainable, counted from the output end (0: none).</summary>
    public int TrainedBlocks { get; init; }

    /// <summary>Whether the head after the blocks (final norm and projection, or the ResNet's attention pool) trains.</summary>
    public bool TrainHead { get; init; }

    /// <summary>Whether the tower's LayerNorm / BatchNorm weights and biases train even where their block is locked.</summary>
    public bool TrainNorms { get; init; }

    /// <summary>True when nothing of the tower trains: its features can be computed without autograd and cached.</summary>
    public bool LocksEverything => TrainedBlocks == 0 && !TrainHead && !TrainNorms;

    /// <summary>Throws when <see cref="TrainedBlocks"/> is negative; <paramref name="what"/> names the setting in the message.</summary>
    internal void Validate(string what)
    {
        if (TrainedBlocks < 0)
            throw new ArgumentOutOfRangeException(what, TrainedBlocks, $"{what}.TrainedBlocks cannot be negative.");
    }
}
