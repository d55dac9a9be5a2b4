using System;
using System.Collections.Generic;
using Microsoft.ML.Clip.Training.Objectives;
using Microsoft.ML.Clip.Training.Objectives.EvaClip;
using Microsoft.ML.Clip.Training.Objectives.Filip;
using Microsoft.ML.Clip.Training.Objectives.Flip;
using Microsoft.ML.Clip.Training.Objectives.MaskClip;
using Microsoft.ML.Clip.Training.Objectives.SigLip;
using Microsoft.ML.Clip.Training.Objectives.Slip;
using Microsoft.ML.Clip.Training.Objectives.WenLan;

namespace Microsoft.ML.Clip.TestCommon;

/// <summary>
/// Every training objective the library has, by a short name, for the programs that run each
/// one (the device audit, the GPU check, the objectives benchmark): a new objective is added here once. Linked into
/// each of those projects as source.
/// </summary>
internal static class AllObjectives
{
    /// <summary>The objectives' names, in the order the README lists them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["clip", "siglip", "filip", "flip", "wenlan", "maskclip", "eva-clip", "slip"];

    /// <summary>A new objective by name with its defaults, but FLIP masking half the patches and WenLan's queue of
    /// <paramref name="wenLanQueueSize"/> features (a multiple of the caller's batch).</summary>
    public static ClipObjective Create(string name, int wenLanQueueSize) => name switch
    {
        "clip" => new ContrastiveObjective(),
        "siglip" => new SigLipObjective(),
        "filip" => new FilipObjective(),
        "flip" => new FlipObjective(new FlipOptions { MaskRatio = 0.5 }),
        "wenlan" => new WenLanObjective(new WenLanOptions { QueueSize = wenLanQueueSize }),
        "maskclip" => new MaskClipObjective(),
        "eva-clip" => new EvaClipObjective(),
        "slip" => new SlipObjective(),
        _ => throw new ArgumentException($"No objective named '{name}'; known: {string.Join(", ", Names)}.", nameof(name)),
    };
}
