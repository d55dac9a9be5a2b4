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
/// The layers depend one way (README, Layout): model code ← training ← the ML.NET layer, and the preprocessing
/// assembly needs neither TorchSharp nor ML.NET. These tests read the compiled IL, so a dependency hidden in a method
/// body or a lambda counts as much as one in a signature.
/// </summary>
public class LayeringTests
{
    private static readonly string[] BelowMlNetLayer =
    {
        "Microsoft.ML.Clip.Modeling", "Microsoft.ML.Clip.Training", "Microsoft.ML.Clip.Distributed",
        "Microsoft.ML.Clip.Weights", "Microsoft.ML.Clip.Torch",
    };

    [Fact]
    public void PreprocessingAssemblyReferencesNeitherTorchSharpNorMlNet()
    {
        var references = typeof(ClipImagePreprocessor).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        Assert.Contains("Microsoft.ML.Tokenizers", references);
        Assert.DoesNotContain(references, name => name.StartsWith("TorchSharp", StringComparison.Ordinal));
        Assert.DoesNotContain(references, name => name.StartsWith("Microsoft.ML", StringComparison.Ordinal) && name != "Microsoft.ML.Tokenizers");
    }

    [Fact]
    public void ModelAndTrainingCodeUseNoMlNetTypeAndNoMlNetLayerType()
    {
        using var module = ModuleDefinition.ReadModule(typeof(ClipModel).Assembly.Location);
        var below = module.Types.SelectMany(Nested)
            .Where(type => BelowMlNetLayer.Any(layer => InNamespace(OuterMost(type).Namespace, layer)))
            .ToList();
        Assert.Contains(below, type => type.FullName == "Microsoft.ML.Clip.Training.ClipTrainer");
        Assert.Contains(below, type => type.FullName == "Microsoft.ML.Clip.Modeling.ClipModel");

        var offences = below.SelectMany(type => ReferencedTypes(type).Where(IsAboveTheLayer).Select(used => $"{type.FullName} uses {used.FullName}"))
            .Distinct()
            .ToList();

        Assert.True(offences.Count == 0, "Layering broken:\n" + string.Join("\n", offences.Take(30)));
    }

    [Fact]
    public void TheCheckSeesADependencyInAMethodBody()
    {
        // The check itself must be able to fail: the ML.NET layer's ImageInput does use ML.NET types in its bodies.
        using var module = ModuleDefinition.ReadModule(typeof(ClipModel).Assembly.Location);
        var imageInput = module.Types.SelectMany(Nested).Single(t => t.FullName == "Microsoft.ML.Clip.Transforms.ImageInput");
        Assert.Contains(ReferencedTypes(imageInput), IsAboveTheLayer);
    }

    private static bool IsAboveTheLayer(TypeReference type)
    {
        string? scope = AssemblyOf(type);
        if (scope is null) return false;
        bool mlNet = scope.StartsWith("Microsoft.ML", StringComparison.Ordinal)
            && scope is not ("Microsoft.ML.Tokenizers" or "Microsoft.ML.Clip.Preprocessing")
            && !scope.StartsWith("Microsoft.ML.Clip", StringComparison.Ordinal);
        string ns = OuterMostNamespace(type);
        bool mlNetLayer = scope == "Microsoft.ML.Clip"
            && (ns == "Microsoft.ML.Clip" || InNamespace(ns, "Microsoft.ML.Clip.Transforms")
                || InNamespace(ns, "Microsoft.ML.Clip.Trainers") || InNamespace(ns, "Microsoft.ML.Clip.Persistence"));
        return mlNet || mlNetLayer;
    }

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
