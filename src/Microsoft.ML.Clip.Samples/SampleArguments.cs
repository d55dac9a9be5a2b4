using System;
using System.Collections.Generic;
using System.Globalization;

namespace Microsoft.ML.Clip.Samples;

/// <summary>Minimal <c>--name value</c> parsing for the samples.</summary>
internal sealed class SampleArguments
{
    private readonly Dictionary<string, string> _values = new(StringComparer.OrdinalIgnoreCase);

    public SampleArguments(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
                throw new ArgumentException($"Unexpected argument '{args[i]}': options are written --name value.");
            string name = args[i][2..];
            _values[name] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
        }
    }

    public int Int(string name, int fallback) =>
        _values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public string String(string name, string fallback) => _values.TryGetValue(name, out var v) ? v : fallback;

    public bool Flag(string name) => _values.TryGetValue(name, out var v) && v != "false";
}
