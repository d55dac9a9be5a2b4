using System.IO;


namespace Microsoft.ML.Clip.Weights;

/// <summary>A safetensors file is malformed, truncated or exceeds the configured limits.</summary>
public sealed class SafeTensorsFormatException : IOException
{
    /// <summary>A malformed or unsafe file; <paramref name="message"/> names the entry or tensor and what is wrong.</summary>
    public SafeTensorsFormatException(string message) : base(message) { }
}
