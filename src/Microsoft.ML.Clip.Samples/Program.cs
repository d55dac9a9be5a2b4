using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Clip.Samples;

/// <summary>Entry point: <c>dotnet run --project src/Microsoft.ML.Clip.Samples [sample] [options]</c>.</summary>
public static class Program
{
    private static readonly Dictionary<string, (string Description, Func<string[], int> Run)> Samples = new()
    {
        ["shapes"] = ("Pretrains a small CLIP on the built-in shapes data; zero-shot, retrieval and linear-probe figures; plot; save/reload.", ShapesSample.Run),
        ["fashion-mnist"] = ("Real data: pretrains on Fashion-MNIST (dataset-fashion-mnist package); zero-shot, linear probe and raw-pixel baseline on the test set.", FashionMnistSample.Run),
        ["sorted-manifest"] = ("Real data order: Fashion-MNIST as PNG files with a class-sorted and a shuffled manifest; ClipPretrain on each; held-out zero-shot and retrieval.", SortedManifestSample.Run),
        ["finetune"] = ("Fine-tuning without forgetting: pretrain on half the shapes, fine-tune on the other half (all weights, LiT, WiSE-FT); zero-shot on both.", FineTuneSample.Run),
        ["manifest"] = ("Reads a CSV manifest (image path, caption) with a DataFrame into LoadRawImageBytes + ClipPretrain; retrieval on held-out pairs.", ManifestSample.Run),
        ["persistence"] = ("Saves a pipeline holding a TorchSharp tensor stage with Model.Save, reloads it and scores again.", PersistenceSample.Run),
        ["doctor"] = ("Prints CPU, libtorch and bf16 facts and checks every tower/loss operation (fp32, bf16) against float64; exit 1 names a failing one.", DoctorCommand.Run),
    };

    private const string DefaultSample = "shapes";

    public static int Main(string[] args)
    {
        string name = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : DefaultSample;
        if (name is "help" or "--help" or "-h")
        {
            Console.WriteLine("Samples:");
            foreach (var (key, (description, _)) in Samples)
                Console.WriteLine($"  {key,-14} {description}");
            return 0;
        }
        if (!Samples.TryGetValue(name, out var sample))
        {
            Console.Error.WriteLine($"Unknown sample '{name}'. Available: {string.Join(", ", Samples.Keys)}.");
            return 2;
        }
        return sample.Run(args.Skip(args.Length > 0 && args[0] == name ? 1 : 0).ToArray());
    }
}
