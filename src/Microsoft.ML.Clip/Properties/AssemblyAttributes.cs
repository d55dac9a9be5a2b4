// This library compiles against publicized copies of these ML.NET assemblies (build/MLNetInternals.targets).
// The attribute tells the runtime to accept this assembly's use of their internal types and members; it is
// also what makes ML.NET's ComponentCatalog see our [LoadableClass] attributes.
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Data")]
// The input exception moved to Microsoft.ML.Clip.Preprocessing (the ONNX Runtime generators throw it without TorchSharp);
// code compiled against this assembly's copy still finds it.
[assembly: System.Runtime.CompilerServices.TypeForwardedTo(typeof(Microsoft.ML.Clip.ClipInputException))]

// The runtime looks the attribute up by this full name, so its namespace cannot follow the folder.
#pragma warning disable IDE0130
namespace System.Runtime.CompilerServices
#pragma warning restore IDE0130
{
    /// <summary>
    /// Recognized by the CoreCLR loader (not defined by the framework): the declaring assembly may access
    /// non-public members of the named assembly.
    /// </summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute : Attribute
    {
        public IgnoresAccessChecksToAttribute(string assemblyName) => AssemblyName = assemblyName;

        public string AssemblyName { get; }
    }
}
