using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>Where a tensor sits in its tower: before the residual blocks, in one of them, or in the head after them.</summary>
internal enum TowerSection
{
    /// <summary>Embeddings and stem (ViT: patch convolution, class and positional embeddings, <c>ln_pre</c>; text: token and positional embeddings; ResNet: the three-convolution stem).</summary>
    Stem,

    /// <summary>A residual block (<c>transformer.resblocks.N</c>, timm's <c>blocks.N</c>, or a ResNet bottleneck <c>layerS.J</c>).</summary>
    Block,

    /// <summary>After the blocks: final norm, pooling and projection (ViT: <c>ln_post</c>, <c>proj</c>; timm: <c>norm</c>, <c>attn_pool</c>, <c>head</c>; text: <c>ln_final</c>, <c>text_projection</c>; ResNet: <c>attnpool</c>).</summary>
    Head,
}

/// <summary>
/// How a tower names its tensors: the stem, the residual blocks in forward order, the head after them, and the prefix
/// they all share inside a <see cref="ClipModel"/> (<c>visual.</c>, <c>visual.trunk.</c>, <c>text.</c> or none). Locks
/// (<c>TowerLock.AllButLast</c> counts blocks), layer-wise learning rates (depth: stem 0, block i at i + 1, head at
/// blocks + 1) and checkpointing read it, so a new tower brings its own description rather than new branches there.
/// </summary>
internal sealed class TowerLayout
{
    private readonly string[] _stem;
    private readonly string[] _head;
    private readonly Func<string, int?> _blockOf;

    /// <summary>Describes a tower whose tensor names (without <paramref name="prefix"/>) fall into the given groups.</summary>
    /// <param name="stem">Names or name prefixes (ending in '.') of the stem; "" for every name not in a block.</param>
    /// <param name="blockOf">The 0-based block of a name (without prefix), or null when it is in no block.</param>
    /// <param name="blockCount">Residual blocks in forward order.</param>
    /// <param name="head">Names or name prefixes of the head.</param>
    /// <param name="decaysByDepth">Whether layer-wise learning-rate decay applies by depth (a ModifiedResNet's tower takes one rate).</param>
    /// <param name="prefix">The prefix of every name inside the model.</param>
    public TowerLayout(IEnumerable<string> stem, Func<string, int?> blockOf, int blockCount, IEnumerable<string> head,
                       bool decaysByDepth = true, string prefix = "")
    {
        _stem = stem.ToArray();
        _head = head.ToArray();
        _blockOf = blockOf;
        BlockCount = blockCount;
        DecaysByDepth = decaysByDepth;
        Prefix = prefix;
    }

    /// <summary>A tower whose blocks are <c>{blockPrefix}N.*</c>.</summary>
    public static TowerLayout Sequential(IEnumerable<string> stem, string blockPrefix, int blockCount, IEnumerable<string> head) =>
        new(stem, name => BlockIndex(name, blockPrefix), blockCount, head);

    /// <summary>The prefix every tensor of the tower has inside the model.</summary>
    public string Prefix { get; }

    /// <summary>Residual blocks in forward order: the units <c>TowerLock.AllButLast</c> counts and layer decay steps over.</summary>
    public int BlockCount { get; }

    /// <summary>Whether layer-wise learning-rate decay applies by depth.</summary>
    public bool DecaysByDepth { get; }

    /// <summary>The same layout nested under <paramref name="prefix"/> (prepended to the current prefix).</summary>
    public TowerLayout WithPrefix(string prefix) => new(_stem, _blockOf, BlockCount, _head, DecaysByDepth, prefix + Prefix);

    /// <summary>Whether <paramref name="name"/> (a model state-dict name) has this tower's prefix.</summary>
    public bool Contains(string name) => name.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>The section of a model state-dict name and, for a block, its 0-based index in forward order.</summary>
    /// <exception cref="ArgumentException">The name is not one of this tower's.</exception>
    public (TowerSection Section, int Block) SectionOf(string name)
    {
        if (!Contains(name)) throw new ArgumentException($"'{name}' is not a tensor of the tower under '{Prefix}'.", nameof(name));
        string local = name[Prefix.Length..];
        if (_blockOf(local) is int block) return (TowerSection.Block, block);
        if (Matches(local, _stem)) return (TowerSection.Stem, -1);
        if (Matches(local, _head)) return (TowerSection.Head, -1);
        throw new ArgumentException($"'{name}' is in none of its tower's stem, blocks or head; the tower's layout does not describe it.", nameof(name));
    }

    /// <summary>Depth of a model state-dict name for layer-wise learning rates: stem 0, block i at i + 1, head at blocks + 1.</summary>
    public int Depth(string name)
    {
        var (section, block) = SectionOf(name);
        return section switch { TowerSection.Stem => 0, TowerSection.Block => block + 1, _ => BlockCount + 1 };
    }

    /// <summary>The index N of a name <c>{blockPrefix}N.*</c>, else null.</summary>
    public static int? BlockIndex(string local, string blockPrefix)
    {
        if (!local.StartsWith(blockPrefix, StringComparison.Ordinal)) return null;
        string index = local[blockPrefix.Length..].Split('.')[0];
        return int.TryParse(index, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : null;
    }

    // An entry ending in '.' is a module prefix, another a tensor name; the empty entry takes every name.
    private static bool Matches(string local, string[] entries) =>
        entries.Any(e => e.Length == 0 || (e.EndsWith('.') ? local.StartsWith(e, StringComparison.Ordinal) : local == e));
}

/// <summary>A tower that describes how its tensors are laid out (<see cref="TowerLayout"/>).</summary>
internal interface IDescribedTower
{
    /// <summary>The layout of the tower's own state-dict names (no prefix of an owner).</summary>
    TowerLayout Layout { get; }
}
