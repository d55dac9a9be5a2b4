using System;
using System.IO;
using Xunit;

namespace Microsoft.ML.Clip.Tests;

/// <summary>
/// Locates the open_clip reference fixtures: <c>CLIP_FIXTURES</c>, else <c>../shared/fixtures</c> beside the
/// repository. On CI (<c>CI</c> set) a missing folder is a failure, never a skip.
/// </summary>
public static class Fixtures
{
    private static readonly Lazy<string?> _root = new(Find);

    public static bool IsCI => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"));

    public static bool Available => _root.Value is not null;

    /// <summary>The fixtures folder; throws with a clear message when it cannot be found.</summary>
    public static string Root => _root.Value ?? throw new DirectoryNotFoundException(
        "The open_clip fixtures were not found: set CLIP_FIXTURES to the shared/fixtures folder " +
        $"(CLIP_FIXTURES='{Environment.GetEnvironmentVariable("CLIP_FIXTURES")}').");

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>The OpenAI BPE vocabulary (shared/vocab), located next to the fixtures folder.</summary>
    public static string VocabularyPath => System.IO.Path.Combine(Root, "..", "vocab", "bpe_simple_vocab_16e6.txt.gz");

    private static string? Find()
    {
        var configured = Environment.GetEnvironmentVariable("CLIP_FIXTURES");
        if (!string.IsNullOrEmpty(configured))
        {
            // Relative paths are relative to the repository root (where .ci/run sets them).
            var candidates = new[] { configured, System.IO.Path.Combine(RepositoryRoot.Find() ?? ".", configured) };
            foreach (var c in candidates)
                if (Directory.Exists(System.IO.Path.Combine(c, "openclip"))) return System.IO.Path.GetFullPath(c);
            return null;
        }
        var repo = RepositoryRoot.Find();
        if (repo is null) return null;
        var sibling = System.IO.Path.GetFullPath(System.IO.Path.Combine(repo, "..", "shared", "fixtures"));
        return Directory.Exists(System.IO.Path.Combine(sibling, "openclip")) ? sibling : null;
    }
}

/// <summary>Finds the repository root (the folder holding ClipMlNet.sln) above the test binaries.</summary>
public static class RepositoryRoot
{
    public static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "ClipMlNet.sln"))) return dir.FullName;
        return null;
    }
}

/// <summary>A fact that needs the reference fixtures: skipped locally without them, failing on CI.</summary>
public sealed class FixtureFactAttribute : FactAttribute
{
    public FixtureFactAttribute()
    {
        if (!Fixtures.Available && !Fixtures.IsCI)
            Skip = "open_clip fixtures not found (set CLIP_FIXTURES)";
    }
}

/// <summary>A theory that needs the reference fixtures: skipped locally without them, failing on CI.</summary>
public sealed class FixtureTheoryAttribute : TheoryAttribute
{
    public FixtureTheoryAttribute()
    {
        if (!Fixtures.Available && !Fixtures.IsCI)
            Skip = "open_clip fixtures not found (set CLIP_FIXTURES)";
    }
}
