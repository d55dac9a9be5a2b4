namespace Microsoft.ML.Clip.Modeling;

/// <summary>A tower whose residual blocks can trade recomputation for activation memory (<see cref="ActivationCheckpoint"/>).</summary>
internal interface ICheckpointableTower
{
    /// <summary>Whether training passes with gradients keep only each block's input (see <see cref="Transformer.CheckpointActivations"/>).</summary>
    bool CheckpointActivations { get; set; }
}
