using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Mono.Cecil;
using Mono.Cecil.Cil;
using Xunit;
using Xunit.Abstractions;

namespace Microsoft.ML.Clip.Tests.Foundation;

/// <summary>
/// The packages are compiled against ML.NET 5.0.1 and SkiaSharp 2.88 (the library against publicized ML.NET internals
/// too: build/MLNetInternals.targets), but run with whatever the application resolves, ML.NET 6.0 and SkiaSharp 3 among
/// them. Every type, method and field the shipped assemblies reference must exist, with the same signature, in the
/// assemblies this test run was deployed with: a missing one would only fail when the code path runs, as a
/// MissingMethodException in a user's application. The suite runs against ML.NET 5.0.1 by default and against 6.0.0 with
/// <c>-p:TestMLNetVersion=6.0.0</c> (.ci/run does both).
/// </summary>
public class BinaryCompatibilityTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("Microsoft.ML.Clip")]
    [InlineData("Microsoft.ML.Clip.Parquet")]
    [InlineData("Microsoft.ML.Clip.Preprocessing")]
    public void EveryReferencedMemberExistsInTheDeployedAssemblies(string assemblyName)
    {
        using var resolver = DeployedAssemblies();
        using var module = ModuleDefinition.ReadModule(Path.Combine(AppContext.BaseDirectory, assemblyName + ".dll"),
            new ReaderParameters { AssemblyResolver = resolver });

        var check = Check(module);

        Assert.True(check.Unresolved.Count == 0,
            $"{assemblyName} references {check.Unresolved.Count} members that the deployed assemblies do not have:\n" + string.Join("\n", check.Unresolved.Take(40)));
        Assert.True(check.Resolved > 100, $"only {check.Resolved} references were checked");
    }

    [Fact]
    public void TheLibrarysMlNetInternalsAreCheckedToo()
    {
        // The check covers the members that the publicized compilation reaches past ML.NET's public API: these are the
        // ones an ML.NET release may change without notice.
        using var resolver = DeployedAssemblies();
        using var module = ModuleDefinition.ReadModule(Path.Combine(AppContext.BaseDirectory, "Microsoft.ML.Clip.dll"),
            new ReaderParameters { AssemblyResolver = resolver });

        var internals = Check(module).NonPublicMlNet.Distinct().ToList();
        output.WriteLine($"{internals.Count} non-public ML.NET members referenced:\n" + string.Join("\n", internals));

        Assert.Contains(internals, name => name.Contains("Microsoft.ML.ModelSaveContext::", StringComparison.Ordinal));
        Assert.Contains(internals, name => name.Contains("Microsoft.ML.ModelLoadContext::", StringComparison.Ordinal));
    }

    [Fact]
    public void TheCheckFindsAMemberThatDoesNotExist()
    {
        // An assembly made here that calls MLContext.NoSuchMethod() and reads MLContext.NoSuchField: the check must name both.
        using var resolver = DeployedAssemblies();
        using var assembly = AssemblyDefinition.CreateAssembly(new AssemblyNameDefinition("CompatibilityProbe", new Version(1, 0)), "CompatibilityProbe", new ModuleParameters
        {
            Kind = ModuleKind.Dll,
            AssemblyResolver = resolver,
        });
        var module = assembly.MainModule;
        var mlContext = module.ImportReference(typeof(MLContext));
        var missingMethod = new MethodReference("NoSuchMethod", module.TypeSystem.Void, mlContext) { HasThis = true };
        var missingField = new FieldReference("NoSuchField", module.TypeSystem.Int32, mlContext);
        var type = new TypeDefinition("Probe", "Caller", TypeAttributes.Public | TypeAttributes.Class, module.TypeSystem.Object);
        var method = new MethodDefinition("Call", MethodAttributes.Public | MethodAttributes.Static, module.TypeSystem.Void);
        var il = method.Body.GetILProcessor();
        il.Emit(OpCodes.Ldnull);
        il.Emit(OpCodes.Callvirt, missingMethod);
        il.Emit(OpCodes.Ldnull);
        il.Emit(OpCodes.Ldfld, missingField);
        il.Emit(OpCodes.Pop);
        il.Emit(OpCodes.Ret);
        type.Methods.Add(method);
        module.Types.Add(type);
        using var stream = new MemoryStream();
        assembly.Write(stream);
        stream.Position = 0;
        using var written = ModuleDefinition.ReadModule(stream, new ReaderParameters { AssemblyResolver = resolver });

        var check = Check(written);

        Assert.Equal(2, check.Unresolved.Count);
        Assert.Contains(check.Unresolved, line => line.Contains("Microsoft.ML.MLContext::NoSuchMethod", StringComparison.Ordinal));
        Assert.Contains(check.Unresolved, line => line.Contains("Microsoft.ML.MLContext::NoSuchField", StringComparison.Ordinal));
    }

    private sealed record Result(List<string> Unresolved, int Resolved, List<string> NonPublicMlNet);

    /// <summary>Resolves every type and member reference of <paramref name="module"/> to another assembly.</summary>
    private static Result Check(ModuleDefinition module)
    {
        var unresolved = new List<string>();
        var nonPublicMlNet = new List<string>();
        int resolved = 0;
        foreach (var type in module.GetTypeReferences())
        {
            if (type.Resolve() is not null) resolved++;
            else unresolved.Add($"type {type.FullName} (from {type.Scope.Name})");
        }
        foreach (var member in module.GetMemberReferences())
        {
            // Methods of array types (Get/Set/Address of multi-dimensional arrays) are made by the runtime: nothing to find.
            if (member.DeclaringType.GetElementType() is ArrayType || member.DeclaringType is ArrayType) continue;
            var definition = member.Resolve();
            if (definition is null)
            {
                unresolved.Add($"{member.FullName} (from {member.DeclaringType.Scope.Name})");
                continue;
            }
            resolved++;
            string assembly = definition.DeclaringType.Module.Assembly.Name.Name;
            if (assembly.StartsWith("Microsoft.ML", StringComparison.Ordinal) && !assembly.StartsWith("Microsoft.ML.Clip", StringComparison.Ordinal) && !IsPublic(definition))
                nonPublicMlNet.Add(member.FullName);
        }
        return new Result(unresolved, resolved, nonPublicMlNet);
    }

    private static bool IsPublic(IMemberDefinition member) => member switch
    {
        MethodDefinition method => method.IsPublic && IsPublic(method.DeclaringType),
        FieldDefinition field => field.IsPublic && IsPublic(field.DeclaringType),
        TypeDefinition type => (type.IsPublic || type.IsNestedPublic) && (type.DeclaringType is null || IsPublic(type.DeclaringType)),
        _ => true,
    };

    /// <summary>This test run's own output folder (the ML.NET, SkiaSharp, TorchSharp it was deployed with) and the runtime's.</summary>
    private static DefaultAssemblyResolver DeployedAssemblies()
    {
        var resolver = new DefaultAssemblyResolver();
        foreach (var directory in resolver.GetSearchDirectories()) resolver.RemoveSearchDirectory(directory);
        resolver.AddSearchDirectory(AppContext.BaseDirectory);
        resolver.AddSearchDirectory(RuntimeEnvironment.GetRuntimeDirectory());
        return resolver;
    }
}
