using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.Clip.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Tests.Weights;

public class SafeTensorsTests
{
    [Trait("Category", "Fixtures")]
    [FixtureFact]
    public void LoadsOpenClipFixtureWeights()
    {
        var tensors = SafeTensors.Load(Fixtures.Path("openclip", "tiny-gelu", "weights.safetensors"));
        try
        {
            Assert.Equal(new long[] { 64, 3, 8, 8 }, tensors["visual.conv1.weight"].shape);
            Assert.Equal(new long[] { 1000, 64 }, tensors["token_embedding.weight"].shape);
            Assert.Equal(ScalarType.Float32, tensors["logit_scale"].dtype);
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    [Fact]
    public void RoundTripsEveryDTypeExactly()
    {
        var original = new Dictionary<string, Tensor>
        {
            ["f32"] = randn(3, 4),
            ["bf16"] = randn(5).to(ScalarType.BFloat16),
            ["f16"] = randn(2, 2).to(ScalarType.Float16),
            ["i64"] = arange(7),
            ["u8"] = tensor(new byte[] { 0, 1, 255 }),
            ["empty"] = zeros(0, 3),
            ["scalar"] = tensor(4.5f),
        };
        using var stream = new MemoryStream();
        SafeTensors.Save(original, stream, new Dictionary<string, string> { ["format"] = "pt" });
        stream.Position = 0;
        var header = SafeTensors.ReadHeader(stream);
        Assert.Equal("pt", header.Metadata["format"]);
        Assert.Equal(0, header.DataStart % 8);
        stream.Position = 0;
        var loaded = SafeTensors.Load(stream);
        Assert.Equal(original.Keys, loaded.Keys);
        foreach (var (name, t) in original)
        {
            Assert.Equal(t.dtype, loaded[name].dtype);
            Assert.Equal(t.shape, loaded[name].shape);
            Assert.True(t.bytes.SequenceEqual(loaded[name].bytes), name);
        }
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "needs 8")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,800]}}", "truncated")]
    [InlineData("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", "unsupported dtype 'Q7'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "invalid dimension")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", "overflows")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", "overlapping")]
    [InlineData("[1,2]", "not a JSON object")]
    [InlineData("{\"a\":", "not valid JSON")]
    public void RejectsMalformedHeadersBeforeAllocating(string header, string expected)
    {
        var bytes = Encoding.UTF8.GetBytes(header);
        using var stream = new MemoryStream();
        stream.Write(BitConverter.GetBytes((ulong)bytes.Length));
        stream.Write(bytes);
        stream.Write(new byte[16]);
        stream.Position = 0;
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(stream, "bad.safetensors"));
        Assert.Contains(expected, ex.Message);
        Assert.Contains("bad.safetensors", ex.Message);
    }

    [Fact]
    public void RejectsHeaderLengthBeyondFile()
    {
        using var stream = new MemoryStream();
        stream.Write(BitConverter.GetBytes(ulong.MaxValue / 2));
        stream.Write(new byte[32]);
        stream.Position = 0;
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(stream));
        Assert.Contains("header", ex.Message);
    }
}
