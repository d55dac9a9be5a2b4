using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.Clip.Weights;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Reliability;

/// <summary>
/// Untrusted weight files: thousands of mutated copies of a valid safetensors file (bit flips, truncations,
/// header edits) must each load or fail with <see cref="SafeTensorsFormatException"/>, never anything else
/// (no out-of-memory, no crash, no hang).
/// </summary>
public class SafeTensorsFuzzTests
{
    private static byte[] ValidFile()
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["visual.conv1.weight"] = randn(4, 3, 2, 2),
            ["token_embedding.weight"] = randn(10, 4).to(ScalarType.BFloat16),
            ["ids"] = arange(5),
            ["logit_scale"] = tensor(2.5f),
        };
        using var stream = new MemoryStream();
        SafeTensors.Save(tensors, stream, new Dictionary<string, string> { ["format"] = "pt" });
        return stream.ToArray();
    }

    private static void LoadOrCleanError(byte[] bytes)
    {
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            var loaded = SafeTensors.Load(stream, "fuzzed.safetensors");
            foreach (var t in loaded.Values) t.Dispose();
        }
        catch (SafeTensorsFormatException ex)
        {
            Assert.Contains("fuzzed.safetensors", ex.Message);
        }
    }

    [Fact]
    public void BitFlipsAnywhereGiveCleanErrors()
    {
        var valid = ValidFile();
        var random = new Random(1);
        for (int i = 0; i < 3000; i++)
        {
            var bytes = (byte[])valid.Clone();
            int flips = 1 + random.Next(4);
            // Mostly in the 8-byte length and the JSON header, where a flip changes the meaning.
            int headerEnd = 8 + (int)BitConverter.ToUInt64(valid, 0);
            for (int f = 0; f < flips; f++)
            {
                int at = random.Next(4) == 0 ? random.Next(bytes.Length) : random.Next(headerEnd);
                bytes[at] ^= (byte)(1 << random.Next(8));
            }
            LoadOrCleanError(bytes);
        }
    }

    [Fact]
    public void EveryTruncationGivesACleanError()
    {
        var valid = ValidFile();
        for (int length = 0; length < valid.Length; length++)
        {
            var bytes = valid.AsSpan(0, length).ToArray();
            var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(new MemoryStream(bytes), "fuzzed.safetensors"));
            Assert.Contains("fuzzed.safetensors", ex.Message);
        }
    }

    [Fact]
    public void HostileHeaderEditsGiveCleanErrors()
    {
        string[] headers =
        [
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[100000,100000,100000],\"data_offsets\":[0,4000000000000000]}}", // petabytes
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775807],\"data_offsets\":[0,16]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}",
            "{\"a\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}",
            "{\"a\":[1,2,3]}",
            "{\"__metadata__\":{\"k\":1}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
            new string('[', 10_000) + new string(']', 10_000),
            "\0\0\0\0",
        ];
        foreach (var header in headers)
        {
            var json = Encoding.UTF8.GetBytes(header);
            var bytes = BitConverter.GetBytes((ulong)json.Length).Concat(json).Concat(new byte[16]).ToArray();
            var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(new MemoryStream(bytes), "fuzzed.safetensors"));
            Assert.Contains("fuzzed.safetensors", ex.Message);
        }
    }

    [Fact]
    public void OversizedHeaderIsRefusedBeforeReadingIt()
    {
        var bytes = BitConverter.GetBytes((ulong)SafeTensors.DefaultMaxHeaderBytes + 1).Concat(new byte[64]).ToArray();
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(new MemoryStream(bytes), "fuzzed.safetensors"));
        Assert.Contains("header", ex.Message);
    }
}
