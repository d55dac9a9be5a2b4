namespace Microsoft.ML.Clip.SampleData;

/// <summary>Which (shape, colour) combinations a generated split may contain; see <see cref="ShapesDatasetOptions.HeldOutPairs"/>.</summary>
public enum ShapesSplit
{
    /// <summary>No shape in any image has a held-out (shape, colour) pair: captions never mention those combinations.</summary>
    Train,
    /// <summary>
    /// The primary shape of every image (the one the labels describe) has a held-out pair; with
    /// <see cref="ShapesDatasetOptions.ObjectsPerImage"/> above one, the others may have any pair.
    /// </summary>
    HeldOut,
    /// <summary>Every combination, held out or not.</summary>
    All,
}
