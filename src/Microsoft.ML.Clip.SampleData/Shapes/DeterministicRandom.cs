namespace Microsoft.ML.Clip.SampleData.Shapes;

/// <summary>
/// SplitMix64: a tiny generator whose output is fixed by its definition. <see cref="System.Random"/> is not
/// used because its seeded sequence is an implementation detail that may change between .NET versions, and the
/// dataset promises the same pixels everywhere.
/// </summary>
internal struct DeterministicRandom
{
    private ulong _state;

    public DeterministicRandom(ulong seed) => _state = seed;

    /// <summary>A generator for one example, independent of its neighbours: mixes the set's seed, a stream tag and the index.</summary>
    public static DeterministicRandom ForExample(int seed, ulong stream, long index)
    {
        ulong s = Mix((ulong)(uint)seed ^ 0x5EED_0000_0000_0000UL);
        s = Mix(s ^ (stream * 0xD1B5_4A32_D192_ED03UL));
        s = Mix(s ^ (ulong)index);
        return new DeterministicRandom(s);
    }

    public ulong NextUInt64()
    {
        _state += 0x9E37_79B9_7F4A_7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform in [0, 1), with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [<paramref name="min"/>, <paramref name="max"/>).</summary>
    public double NextDouble(double min, double max) => min + (max - min) * NextDouble();

    /// <summary>Uniform in [0, <paramref name="count"/>) (multiply-shift; the bias below 2⁻³² does not matter here).</summary>
    public int NextInt(int count) => (int)(((NextUInt64() >> 32) * (ulong)(uint)count) >> 32);

    /// <summary>Uniform in [<paramref name="min"/>, <paramref name="max"/>], both ends included.</summary>
    public int NextInt(int min, int max) => min + NextInt(max - min + 1);

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }
}
