using System;

namespace Microsoft.ML.Clip.Training;

/// <summary>
/// Towers whose residual blocks keep only their inputs in the forward pass and are recomputed in the backward pass
/// (activation checkpointing): less memory for the activations, one more forward pass of those blocks per step.
/// </summary>
[Flags]
public enum CheckpointedTowers
{
    /// <summary>Every activation is kept (fastest).</summary>
    None = 0,

    /// <summary>The image tower's transformer blocks (Vision Transformers only).</summary>
    Image = 1,

    /// <summary>The text tower's transformer blocks.</summary>
    Text = 2,

    /// <summary>Both towers.</summary>
    Both = Image | Text,
}
