using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text.Json;

namespace Microsoft.ML.Clip.Benchmarks;

/// <summary>Timing helpers: warm-up, then the median of timed repetitions; results as JSON lines.</summary>
internal static class Measure
{
    public static double MedianSeconds(Action action, int warmup = 1, int repetitions = 3)
    {
        for (int i = 0; i < warmup; i++) action();
        var times = new List<double>();
        for (int i = 0; i < repetitions; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            times.Add(clock.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    public static void Report(string bench, params (string Key, object Value)[] fields)
    {
        var record = new Dictionary<string, object> { ["bench"] = bench };
        foreach (var (key, value) in fields)
            record[key] = value is double d ? Math.Round(d, 4) : value;
        Console.WriteLine(JsonSerializer.Serialize(record));
    }
}
