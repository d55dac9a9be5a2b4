using System;
using Microsoft.ML.Clip.Diagnostics;

namespace Microsoft.ML.Clip.Samples;

/// <summary>
/// <c>doctor</c>: prints the CPU, libtorch and bf16 facts of this machine and checks every tower and loss
/// operation against float64 (the logic is <see cref="ClipDoctor"/> in the library). Exit code 1 names what failed.
/// </summary>
internal static class DoctorCommand
{
    public static int Run(string[] args)
    {
        if (args.Length > 0)
        {
            Console.Error.WriteLine($"doctor takes no options; got '{string.Join(' ', args)}'.");
            return 2;
        }
        var result = ClipDoctor.Run(Console.Out);
        if (result.ExitCode != 0) Console.Error.WriteLine(result.Summary);
        return result.ExitCode;
    }
}
