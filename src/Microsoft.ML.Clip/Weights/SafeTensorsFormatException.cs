using System.IO;


namespace Microsoft.ML.Clip.Weights;

/// <summary>A safetensors file is malformed, truncated or exceeds the configured limits.</summary>
public sealed class SafeTensorsFormatException : IOException
{
    /// <summary>Creates the exception.</summary>
    public SafeTensorsFormatException(string message) : base(message) { }
}
