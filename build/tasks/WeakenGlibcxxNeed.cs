// MSBuild task (compiled by RoslynCodeTaskFactory, see TorchSharpNative.targets).
//
// Why: TorchSharp 0.107's libLibTorchSharp.so declares a dependency on the symbol version GLIBCXX_3.4.32
// (GCC 13's libstdc++). Its only use of that version is the marker symbol std::ios_base_library_init,
// which is never relocated, so the library runs fine on an older libstdc++ (Debian 12 ships 3.4.30) once
// the dynamic loader stops insisting on the version. Marking that version requirement VER_FLG_WEAK in
// .gnu.version_r does exactly that: a missing weak version is only reported, a present one binds as
// before, so systems with a newer libstdc++ behave identically.
//
// The task edits copies in build output folders only (never the NuGet cache), and is idempotent.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WeakenGlibcxxNeed : Task
{
    /// <summary>ELF shared objects to patch; missing files are ignored.</summary>
    [Required]
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>The version requirement to weaken.</summary>
    public string VersionName { get; set; } = "GLIBCXX_3.4.32";

    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            if (!File.Exists(path)) continue;
            try
            {
                var result = Patch(path, VersionName);
                if (result == PatchResult.Patched)
                    Log.LogMessage(MessageImportance.Normal, $"Marked {VersionName} weak in {path}");
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Log.LogError($"Could not patch {path}: {ex.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }

    private enum PatchResult { NotNeeded, AlreadyWeak, Patched }

    private static PatchResult Patch(string path, string versionName)
    {
        // Read-only check first so up-to-date builds never rewrite (and never touch timestamps of) the file.
        byte[] bytes = File.ReadAllBytes(path);
        long flagOffset = FindVernauxFlags(bytes, versionName);
        if (flagOffset < 0) return PatchResult.NotNeeded;
        ushort flags = BitConverter.ToUInt16(bytes, (int)flagOffset);
        if ((flags & VerFlgWeak) != 0) return PatchResult.AlreadyWeak;

        // Write to a temporary file then rename, so an interrupted build never leaves a torn library.
        flags |= VerFlgWeak;
        BitConverter.GetBytes(flags).CopyTo(bytes, (int)flagOffset);
        // The original timestamp is kept so MSBuild's incremental copy sees the file as up to date.
        DateTime stamp = File.GetLastWriteTimeUtc(path);
        string temp = path + ".weakening";
        File.WriteAllBytes(temp, bytes);
        File.Replace(temp, path, null);
        File.SetLastWriteTimeUtc(path, stamp);
        return PatchResult.Patched;
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
