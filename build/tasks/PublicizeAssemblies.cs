// MSBuild task (compiled by RoslynCodeTaskFactory, see MLNetInternals.targets).
//
// Why: ML.NET keeps the pieces a saveable transformer needs (ModelSaveContext, ModelLoadContext,
// LoadableClassAttribute, RowToRowTransformerBase, ...) internal. This task writes copies of chosen
// assemblies in which every type and member is public. They are used only as compile references; at run
// time the real assemblies load and [IgnoresAccessChecksTo] lets the CLR accept the calls.
using System;
using System.IO;
using System.Linq;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Mono.Cecil;

public sealed class PublicizeAssemblies : Task
{
    /// <summary>Assemblies to publicize.</summary>
    [Required]
    public ITaskItem[] Assemblies { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>Folder receiving the publicized copies (same file names).</summary>
    [Required]
    public string OutputDirectory { get; set; } = "";

    public override bool Execute()
    {
        Directory.CreateDirectory(OutputDirectory);
        foreach (var item in Assemblies)
        {
            string source = item.GetMetadata("FullPath");
            string target = Path.Combine(OutputDirectory, Path.GetFileName(source));
            var resolver = new DefaultAssemblyResolver();
            resolver.AddSearchDirectory(Path.GetDirectoryName(source));
            using (var module = ModuleDefinition.ReadModule(source, new ReaderParameters { AssemblyResolver = resolver }))
            {
                foreach (var type in module.GetTypes())
                    Publicize(type);
                module.Write(target);
            }
            Log.LogMessage(MessageImportance.Low, $"Publicized {source} -> {target}");
        }
        return !Log.HasLoggedErrors;
    }

    private static void Publicize(TypeDefinition type)
    {
        if (type.IsNested) type.IsNestedPublic = true;
        else type.IsPublic = true;

        foreach (var method in type.Methods)
            method.IsPublic = true;

        // Event backing fields share the event's name; exposing them would make every use ambiguous.
        var eventNames = new System.Collections.Generic.HashSet<string>(type.Events.Select(e => e.Name));
        foreach (var field in type.Fields)
            if (!eventNames.Contains(field.Name))
                field.IsPublic = true;
    }
}
