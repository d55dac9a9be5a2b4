namespace Microsoft.ML.Clip.Training;

/// <summary>Arithmetic used for training steps.</summary>
public enum TrainingPrecision
{
    /// <summary>Everything in float32.</summary>
    Float32,

    /// <summary>
    /// Forward and backward in bfloat16 on a working copy of the model; float32 master weights, gradients
    /// for the optimizer and optimizer state. TorchSharp has no autocast, so this is the explicit form of it.
    /// Several times faster on CPUs with bf16 matrix units (AVX512-BF16, AMX) and on recent GPUs.
    /// </summary>
    BFloat16Mixed,
}
