using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Modeling;
using Mono.Cecil;
using Mono.Cecil.Cil;
using Xunit;

namespace Microsoft.ML.Clip.Tests.Foundation;

/// <summary>
/// The layers depend one way (README, Layout), and every folder of the library belongs to one: a type may use types of
/// its own layer and the layers below, never above; only the ML.NET layer uses ML.NET; the preprocessing assembly
/// needs neither TorchSharp nor ML.NET. These tests read the compiled IL, so a dependency hidden in a method body or a
/// lambda counts as much as one in a signature.
/// </summary>
public class LayeringTests
{
    /// <summary>
    /// The library's layers, bottom first: each namespace (a folder, with its subfolders unless listed themselves) and
    /// the layer it belongs to. A new folder must be placed here (<see cref="EveryNamespaceOfTheLibraryHasALayer"/>).
    /// </summary>
    internal static readonly (string Layer, string[] Namespaces)[] Layers =
    [
        ("TorchSharp interop and concurrency", ["Microsoft.ML.Clip.Torch", "Microsoft.ML.Clip.Threading"]),
        ("formats and processes", ["Microsoft.ML.Clip.Weights", "Microsoft.ML.Clip.Onnx", "Microsoft.ML.Clip.Distributed"]),
        ("model code", ["Microsoft.ML.Clip.Modeling"]),
        ("model inputs, metrics and checks", ["Microsoft.ML.Clip.Tokenization", "Microsoft.ML.Clip.Imaging", "Microsoft.ML.Clip.Evaluation", "Microsoft.ML.Clip.Diagnostics"]),
        ("scoring", ["Microsoft.ML.Clip.Scoring"]),
        ("training", ["Microsoft.ML.Clip.Training"]),
        ("ML.NET layer", ["Microsoft.ML.Clip", "Microsoft.ML.Clip.Transforms", "Microsoft.ML.Clip.Trainers", "Microsoft.ML.Clip.Persistence", "Microsoft.ML.Clip.Datasets"]),
    ];

    private static readonly int MlNetLayer = Layers.Length - 1;

    [Fact]
    public void PreprocessingAssemblyReferencesNeitherTorchSharpNorMlNet()
    {
        var references = typeof(ClipImagePreprocessor).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        Assert.Contains("Microsoft.ML.Tokenizers", references);
        Assert.DoesNotContain(references, name => name.StartsWith("TorchSharp", StringComparison.Ordinal));
        Assert.DoesNotContain(references, name => name.StartsWith("Microsoft.ML", StringComparison.Ordinal) && name != "Microsoft.ML.Tokenizers");
    }

    [Fact]
    public void EveryNamespaceOfTheLibraryHasALayer()
    {
        using var module = ReadLibrary();
        var namespaces = LibraryTypes(module).Select(t => OuterMost(t).Namespace).Distinct().ToList();
        Assert.Contains("Microsoft.ML.Clip.Training.Objectives.Flip", namespaces);
        var unplaced = namespaces.Where(ns => LayerOf(ns, Layers) is null).ToList();
        Assert.True(unplaced.Count == 0, "Namespaces without a layer (place them in LayeringTests.Layers and the README's Layout):\n" + string.Join("\n", unplaced));
    }

    [Fact]
    public void EveryLayerUsesOnlyItselfAndTheLayersBelow()
    {
        using var module = ReadLibrary();
        var offences = UpwardDependencies(module, Layers);
        Assert.True(offences.Count == 0, "Layering broken:\n" + string.Join("\n", offences.Take(30)));
    }

    [Fact]
    public void OnlyTheMlNetLayerUsesMlNet()
    {
        using var module = ReadLibrary();
        var below = LibraryTypes(module).Where(t => LayerOf(OuterMost(t).Namespace, Layers) < MlNetLayer).ToList();
        Assert.Contains(below, type => type.FullName == "Microsoft.ML.Clip.Training.ClipTrainer");
        Assert.Contains(below, type => type.FullName == "Microsoft.ML.Clip.Scoring.ClipScoring");

        var offences = below.SelectMany(type => ReferencedTypes(type).Where(used => IsMlNet(used) && !IsAllowedImageType(type, used))
                .Select(used => $"{type.FullName} uses {used.FullName}"))
            .Distinct()
            .ToList();

        Assert.True(offences.Count == 0, "ML.NET used below the ML.NET layer:\n" + string.Join("\n", offences.Take(30)));
    }

    [Fact]
    public void TheChecksSeeADependencyInAMethodBodyAndAnUpwardOne()
    {
        using var module = ReadLibrary();
        // The ML.NET layer's ImageInput uses ML.NET types in its method bodies.
        var imageInput = LibraryTypes(module).Single(t => t.FullName == "Microsoft.ML.Clip.Transforms.Clip.ImageInput");
        Assert.Contains(ReferencedTypes(imageInput), IsMlNet);
        // With training placed below the model code, training's use of the model is reported.
        var swapped = Layers.Select(l => l.Layer == "model code" ? ("training", new[] { "Microsoft.ML.Clip.Training" })
            : l.Layer == "training" ? ("model code", new[] { "Microsoft.ML.Clip.Modeling" }) : l).ToArray();
        Assert.Contains(UpwardDependencies(module, swapped), o => o.StartsWith("Microsoft.ML.Clip.Training.ClipTrainer uses Microsoft.ML.Clip.Modeling.", StringComparison.Ordinal));
    }

    private static ModuleDefinition ReadLibrary() => ModuleDefinition.ReadModule(typeof(ClipModel).Assembly.Location);

    /// <summary>The library's own types, nested ones with the namespace of their outermost type (compiler-generated namespaces left out).</summary>
    private static IEnumerable<TypeDefinition> LibraryTypes(ModuleDefinition module) => module.Types
        .Where(t => InNamespace(t.Namespace, "Microsoft.ML.Clip"))
        .SelectMany(Nested);

    private static List<string> UpwardDependencies(ModuleDefinition module, (string Layer, string[] Namespaces)[] layers) => LibraryTypes(module)
        .SelectMany(type => ReferencedTypes(type)
            .Where(used => AssemblyOf(used) == module.Assembly.Name.Name && LayerOf(OuterMostNamespace(used), layers) > LayerOf(OuterMost(type).Namespace, layers))
            .Select(used => $"{type.FullName} uses {used.FullName} ({layers[LayerOf(OuterMost(type).Namespace, layers)!.Value].Layer} " +
                            $"→ {layers[LayerOf(OuterMostNamespace(used), layers)!.Value].Layer})"))
        .Distinct()
        .ToList();

    /// <summary>The layer of <paramref name="ns"/>: the entry naming it or its nearest parent namespace; null when none does.</summary>
    private static int? LayerOf(string ns, (string Layer, string[] Namespaces)[] layers)
    {
        int? best = null;
        int bestLength = -1;
        for (int i = 0; i < layers.Length; i++)
            foreach (var entry in layers[i].Namespaces)
                if (entry.Length > bestLength && (ns == entry || (entry != "Microsoft.ML.Clip" && ns.StartsWith(entry + ".", StringComparison.Ordinal))))
                    (best, bestLength) = (i, entry.Length);
        return best;
    }

    private static bool IsMlNet(TypeReference type) =>
        AssemblyOf(type) is { } scope && scope.StartsWith("Microsoft.ML", StringComparison.Ordinal)
        && scope is not ("Microsoft.ML.Tokenizers" or "Microsoft.ML.Clip.Preprocessing")
        && !scope.StartsWith("Microsoft.ML.Clip", StringComparison.Ordinal);

    /// <summary>The library's Imaging folder adapts the preprocessor to ML.NET's <c>MLImage</c>: an image type rather than a pipeline one.</summary>
    private static bool IsAllowedImageType(TypeDefinition user, TypeReference used) =>
        InNamespace(OuterMost(user).Namespace, "Microsoft.ML.Clip.Imaging") && AssemblyOf(used) == "Microsoft.ML.ImageAnalytics";

    private static string? AssemblyOf(TypeReference type) => type.Scope switch
    {
        AssemblyNameReference reference => reference.Name,
        ModuleDefinition module => module.Assembly?.Name.Name,
        _ => null,
    };

    private static IEnumerable<TypeReference> ReferencedTypes(TypeDefinition type)
    {
        var found = new List<TypeReference>();
        if (type.BaseType is not null) found.Add(type.BaseType);
        found.AddRange(type.Interfaces.Select(i => i.InterfaceType));
        found.AddRange(type.Fields.Select(f => f.FieldType));
        found.AddRange(type.Properties.Select(p => p.PropertyType));
        foreach (var method in type.Methods)
        {
            found.Add(method.ReturnType);
            found.AddRange(method.Parameters.Select(p => p.ParameterType));
            if (!method.HasBody) continue;
            found.AddRange(method.Body.Variables.Select(v => v.VariableType));
            foreach (var instruction in method.Body.Instructions)
            {
                if (instruction.Operand is TypeReference t) found.Add(t);
                else if (instruction.Operand is MemberReference m && m.DeclaringType is not null) found.Add(m.DeclaringType);
                if (instruction.Operand is MethodReference call) found.AddRange(call.Parameters.Select(p => p.ParameterType).Append(call.ReturnType));
            }
        }
        return found.Where(t => t is not null).SelectMany(Unwrapped).Where(t => t is not null and not GenericParameter);
    }

    private static IEnumerable<TypeReference> Unwrapped(TypeReference type) => type switch
    {
        GenericInstanceType generic => Unwrapped(generic.ElementType).Concat(generic.GenericArguments.SelectMany(Unwrapped)),
        TypeSpecification specification => Unwrapped(specification.ElementType),
        _ => new[] { type },
    };

    private static IEnumerable<TypeDefinition> Nested(TypeDefinition type) => type.NestedTypes.SelectMany(Nested).Prepend(type);

    private static TypeDefinition OuterMost(TypeDefinition type) => type.DeclaringType is null ? type : OuterMost(type.DeclaringType);

    private static string OuterMostNamespace(TypeReference type) => type.DeclaringType is null ? type.Namespace : OuterMostNamespace(type.DeclaringType);

    private static bool InNamespace(string ns, string layer) => ns == layer || ns.StartsWith(layer + ".", StringComparison.Ordinal);
}
