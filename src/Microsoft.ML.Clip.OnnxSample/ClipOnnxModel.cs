using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Onnx;
using Microsoft.ML.Clip.Tokenization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SkiaSharp;

namespace Microsoft.ML.Clip.OnnxSample;

/// <summary>An exported CLIP served by ONNX Runtime: images and captions in, L2-normalized embeddings out.</summary>
internal sealed class ClipOnnxModel : IDisposable
{
    private readonly ClipOnnxManifest _manifest;
    private readonly InferenceSession _image;
    private readonly InferenceSession _text;
    private readonly ClipTextTokenizer _tokenizer;
    private readonly ClipImagePreprocessor _preprocessor;

    public ClipOnnxModel(string exportFolder)
    {
        _manifest = ClipOnnxManifest.Load(exportFolder); // checks every file's SHA-256 first
        var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _image = new InferenceSession(System.IO.Path.Combine(exportFolder, _manifest.ImageEncoder), options);
        _text = new InferenceSession(System.IO.Path.Combine(exportFolder, _manifest.TextEncoder), options);
        _tokenizer = _manifest.CreateTokenizer(exportFolder);
        _preprocessor = new ClipImagePreprocessor(_manifest.CreatePreprocessingOptions());
    }

    public ClipOnnxManifest Manifest => _manifest;

    /// <summary>Embeds image files (any format SkiaSharp decodes), preprocessed exactly as in training.</summary>
    public float[][] EmbedImages(IReadOnlyList<string> paths)
    {
        int length = _preprocessor.OutputLength, size = _manifest.ImageSize;
        var pixels = new float[paths.Count * length];
        for (int i = 0; i < paths.Count; i++)
        {
            using var bitmap = SKBitmap.Decode(paths[i]) ?? throw new ArgumentException($"'{paths[i]}' is not an image SkiaSharp can decode.");
            using var rgba = bitmap.Copy(SKColorType.Rgba8888) ?? throw new ArgumentException($"'{paths[i]}' cannot be converted to RGBA.");
            var format = rgba.AlphaType == SKAlphaType.Premul ? RawPixelFormat.Rgba32Premultiplied : RawPixelFormat.Rgba32;
            _preprocessor.PreprocessInto(rgba.GetPixelSpan(), rgba.Width, rgba.Height, rgba.RowBytes, format, pixels.AsSpan(i * length, length));
        }
        var input = new DenseTensor<float>(pixels, [paths.Count, 3, size, size]);
        return Run(_image, NamedOnnxValue.CreateFromTensor(_manifest.ImageInput, input), paths.Count);
    }

    /// <summary>Embeds captions.</summary>
    public float[][] EmbedTexts(IReadOnlyList<string> texts)
    {
        var ids = _tokenizer.EncodeBatchToIds(texts.ToArray(), _manifest.ContextLength);
        var input = new DenseTensor<long>(ids, [texts.Count, _manifest.ContextLength]);
        return Run(_text, NamedOnnxValue.CreateFromTensor(_manifest.TextInput, input), texts.Count);
    }

    private static float[][] Run(InferenceSession session, NamedOnnxValue input, int rows)
    {
        using var results = session.Run([input]);
        var flat = results.First().AsEnumerable<float>().ToArray();
        int width = flat.Length / rows;
        // Normalized here whether or not the export already did (a no-op then), so dot products are cosines.
        return Enumerable.Range(0, rows).Select(r => Normalized(flat.AsSpan(r * width, width))).ToArray();
    }

    private static float[] Normalized(ReadOnlySpan<float> v)
    {
        var result = v.ToArray();
        double norm = Math.Sqrt(result.Sum(x => (double)x * x));
        for (int i = 0; i < result.Length; i++) result[i] = (float)(result[i] / Math.Max(norm, 1e-12));
        return result;
    }

    public static float Dot(float[] a, float[] b)
    {
        float sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    public void Dispose()
    {
        _image.Dispose();
        _text.Dispose();
    }
}
