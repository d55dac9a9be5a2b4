// MSBuild task (compiled by RoslynCodeTaskFactory, see TorchSharpNative.targets; it ships in the Microsoft.ML.Clip
// package's buildTransitive folder, so applications that reference the package run it too).
//
// Why: TorchSharp 0.107's libLibTorchSharp.so declares a dependency on the symbol version GLIBCXX_3.4.32
// (GCC 13's libstdc++). Its only use of that version is the marker symbol std::ios_base_library_init,
// which is never relocated, so the library runs fine on an older libstdc++ (Debian 12 ships 3.4.30) once
// the dynamic loader stops insisting on the version. Marking that version requirement VER_FLG_WEAK in
// .gnu.version_r does exactly that: a missing weak version is only reported, a present one binds as
// before, so systems with a newer libstdc++ behave identically.
//
// What it does: for each item (a copy-local asset resolved from a package) whose file needs the version, it writes a
// weakened copy under OutputDirectory and returns the item pointing at that copy, with all of its metadata (the
// destination path in the output folder among them). Items that do not need it pass through unchanged, so a TorchSharp
// built against an older libstdc++ makes this a no-op. The NuGet cache is never written.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WeakenGlibcxxNeed : Task
{
    /// <summary>Copy-local items; only files named <see cref="FileName"/> are examined.</summary>
    [Required]
    public ITaskItem[] Items { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>Folder for the weakened copies (under obj/).</summary>
    [Required]
    public string OutputDirectory { get; set; } = "";

    /// <summary>The native library to examine.</summary>
    public string FileName { get; set; } = "libLibTorchSharp.so";

    /// <summary>The version requirement to weaken.</summary>
    public string VersionName { get; set; } = "GLIBCXX_3.4.32";

    /// <summary><see cref="Items"/>, with each file that needed the edit replaced by its weakened copy.</summary>
    [Output]
    public ITaskItem[] Result { get; private set; } = Array.Empty<ITaskItem>();

    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        var result = new List<ITaskItem>(Items.Length);
        foreach (var item in Items)
        {
            string path = item.GetMetadata("FullPath");
            if (!string.Equals(Path.GetFileName(path), FileName, StringComparison.Ordinal) || !File.Exists(path))
            {
                result.Add(item);
                continue;
            }
            try
            {
                result.Add(Weaken(item, path));
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Log.LogError($"Could not weaken the {VersionName} requirement of {path}: {ex.Message}");
                result.Add(item);
            }
        }
        Result = result.ToArray();
        return !Log.HasLoggedErrors;
    }

    private ITaskItem Weaken(ITaskItem item, string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long flagOffset = FindVernauxFlags(bytes, VersionName);
        if (flagOffset < 0) return item;
        ushort flags = BitConverter.ToUInt16(bytes, (int)flagOffset);
        if ((flags & VerFlgWeak) != 0) return item;

        string target = Path.Combine(OutputDirectory, CopyFolder(item, path), FileName);
        // The copy is rewritten only when the source is newer or differs in size, so up-to-date builds leave it (and the
        // output folder's copy of it) alone. It carries the time it was written, not the source's, so an output folder
        // that still holds an unpatched copy of the same size is overwritten.
        var existing = new FileInfo(target);
        if (!existing.Exists || existing.Length != bytes.Length || existing.LastWriteTimeUtc < File.GetLastWriteTimeUtc(path))
        {
            BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(bytes, (int)flagOffset);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            // Temporary file then rename: an interrupted build never leaves a torn library.
            string temp = target + ".weakening";
            File.WriteAllBytes(temp, bytes);
            // File.Replace/Move rather than File.Move(.., overwrite): MSBuild on .NET Framework (Visual Studio) compiles this too.
            if (existing.Exists) File.Replace(temp, target, null);
            else File.Move(temp, target);
            Log.LogMessage(MessageImportance.Normal, $"Marked {VersionName} weak in a copy of {path}: {target}");
        }

        var weakened = new TaskItem(target);
        item.CopyMetadataTo(weakened);
        weakened.SetMetadata("ClipMlNetWeakenedFrom", path);
        return weakened;
    }

    /// <summary>One folder per package version and asset path (or per source path when the item is not from a package).</summary>
    private static string CopyFolder(ITaskItem item, string path)
    {
        string id = item.GetMetadata("NuGetPackageId"), version = item.GetMetadata("NuGetPackageVersion");
        string inPackage = item.GetMetadata("PathInPackage");
        if (id.Length > 0 && version.Length > 0 && inPackage.Length > 0)
            return Path.Combine(id.ToLowerInvariant(), version, Path.GetDirectoryName(inPackage) ?? "");
        uint hash = 2166136261;
        foreach (char c in path) hash = (hash ^ c) * 16777619;
        return hash.ToString("x8");
    }

    /// <summary>Returns the file offset of vna_flags for <paramref name="versionName"/>, or -1.</summary>
    private static long FindVernauxFlags(byte[] b, string versionName)
    {
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (b[4] != 2 || b[5] != 1)
            throw new InvalidDataException("only 64-bit little-endian ELF files are supported");

        ulong shoff = U64(b, 0x28);
        ushort shentsize = U16(b, 0x3A), shnum = U16(b, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            long sh = checked((long)shoff + (long)i * shentsize);
            if (U32(b, sh + 4) != ShtGnuVerneed) continue;
            long verneedOff = (long)U64(b, sh + 0x18);
            uint link = U32(b, sh + 0x28), count = U32(b, sh + 0x2C);
            long strtab = (long)U64(b, checked((long)shoff + (long)link * shentsize + 0x18));

            long vn = verneedOff;
            for (uint n = 0; n < count; n++)
            {
                ushort auxCount = U16(b, vn + 2);
                long aux = vn + U32(b, vn + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    string name = CString(b, strtab + U32(b, aux + 8));
                    if (name == versionName) return aux + 4;
                    aux += U32(b, aux + 12);
                }
                vn += U32(b, vn + 12);
            }
        }
        return -1;
    }

    private static ushort U16(byte[] b, long o) => BitConverter.ToUInt16(b, checked((int)o));
    private static uint U32(byte[] b, long o) => BitConverter.ToUInt32(b, checked((int)o));
    private static ulong U64(byte[] b, long o) => BitConverter.ToUInt64(b, checked((int)o));

    private static string CString(byte[] b, long o)
    {
        int start = checked((int)o), end = start;
        while (end < b.Length && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, start, end - start);
    }
}
