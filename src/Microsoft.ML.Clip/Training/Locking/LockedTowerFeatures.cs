using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Clip.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Training.Locking;

/// <summary>
/// The features of a fully locked tower: computed without autograd, once per step and rows (the micro-batch passes and
/// the objective's encodes share them) and, when caching, once per row for the whole run. A cached row is keyed by its
/// row id and checked against a fingerprint of its input (pixels or token ids): a row whose input changed (a random
/// augmentation upstream) is encoded again, so the cache never hands out features of another input.
/// </summary>
/// <remarks>
/// Cached features were computed in another batch than the one they are used in; libtorch's matrix products may round
/// a row differently in another batch shape, so they equal fresh ones up to fp32 rounding (bf16 rounding in mixed
/// precision), not bit for bit.
/// </remarks>
internal sealed class LockedTowerFeatures : IDisposable
{
    private readonly Tower? _image, _text;
    private readonly bool _cache;

    private LockedTowerFeatures(bool image, bool text, bool cache)
    {
        _image = image ? new Tower() : null;
        _text = text ? new Tower() : null;
        _cache = cache;
    }

    /// <summary>The provider for <paramref name="model"/>'s fully locked towers, or null when no tower is fully locked.</summary>
    public static LockedTowerFeatures? Create(ClipModel model, FrozenParts frozen, bool cache)
    {
        bool image = frozen.LocksWholeTower(model, ClipTower.Image), text = frozen.LocksWholeTower(model, ClipTower.Text);
        return image || text ? new LockedTowerFeatures(image, text, cache) : null;
    }

    /// <summary>Whether the image tower is fully locked.</summary>
    public bool HasImage => _image is not null;

    /// <summary>Whether the text tower is fully locked.</summary>
    public bool HasText => _text is not null;

    /// <summary>Rows served from the cross-step cache, encoded, and encoded again because their input changed.</summary>
    public (long Hits, long Encoded, long Changed) Counts =>
        (Sum(t => t.Hits), Sum(t => t.Encoded), Sum(t => t.Changed));

    private long Sum(Func<Tower, long> count) => (_image is null ? 0 : count(_image)) + (_text is null ? 0 : count(_text));

    /// <summary>Forgets the current step's features (not the cross-step cache); called when a step begins and ends.</summary>
    public void ForgetStep()
    {
        _image?.ForgetStep();
        _text?.ForgetStep();
    }

    /// <summary>Normalised image features [N, D] (fp32) of <paramref name="batch"/>'s rows, as <c>model.EncodeImage(pixels, normalize: true)</c>.</summary>
    public Tensor Image(ClipModel model, TrainingBatch batch) =>
        (_image ?? throw new InvalidOperationException("The image tower is not locked.")).Features(batch, batch.Pixels, _cache, x => model.EncodeImage(x, normalize: true));

    /// <summary>Normalised text features [N, D] (fp32) of <paramref name="batch"/>'s rows, as <c>model.EncodeText(tokens, normalize: true)</c>.</summary>
    public Tensor Text(ClipModel model, TrainingBatch batch) =>
        (_text ?? throw new InvalidOperationException("The text tower is not locked.")).Features(batch, batch.Tokens, _cache, x => model.EncodeText(x, normalize: true));

    /// <inheritdoc/>
    public void Dispose()
    {
        _image?.ForgetStep();
        _text?.ForgetStep();
        _image?.Probe?.Dispose();
        _text?.Probe?.Dispose();
    }

    private sealed class Tower
    {
        private readonly Dictionary<(int Offset, int Count), Tensor> _step = new();
        private readonly Dictionary<long, (double Print, float[] Values)> _rows = new();

        public Tensor? Probe;
        public long Hits, Encoded, Changed;

        public void ForgetStep()
        {
            foreach (var t in _step.Values) t.Dispose();
            _step.Clear();
        }

        public Tensor Features(TrainingBatch batch, Tensor input, bool cache, Func<Tensor, Tensor> encode)
        {
            var key = (batch.Offset, batch.Count);
            if (!_step.TryGetValue(key, out var features))
            {
                using (var scope = NewDisposeScope())
                using (no_grad())
                    features = (cache && batch.RowIds is { } ids ? FromCache(ids, input, encode) : Encode(input, encode)).MoveToOuterDisposeScope();
                features.DetachFromDisposeScope();
                _step[key] = features;
            }
            return features.detach(); // a handle of its own: the objective may dispose it
        }

        private Tensor Encode(Tensor input, Func<Tensor, Tensor> encode)
        {
            Encoded += input.shape[0];
            return encode(input);
        }

        private Tensor FromCache(IReadOnlyList<long> ids, Tensor input, Func<Tensor, Tensor> encode)
        {
            int n = (int)input.shape[0];
            var prints = Fingerprints(input);
            var missing = Enumerable.Range(0, n).Where(i => !_rows.TryGetValue(ids[i], out var row) || row.Print != prints[i]).ToArray();
            Changed += missing.Count(i => _rows.ContainsKey(ids[i]));
            Hits += n - missing.Length;
            if (missing.Length > 0)
            {
                var fresh = Encode(input.index_select(0, tensor(missing.Select(i => (long)i).ToArray(), device: input.device)), encode);
                var values = fresh.to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
                int d = (int)fresh.shape[1];
                for (int j = 0; j < missing.Length; j++)
                    _rows[ids[missing[j]]] = (prints[missing[j]], values.AsSpan(j * d, d).ToArray());
            }
            int dim = _rows[ids[0]].Values.Length;
            var all = new float[n * dim];
            for (int i = 0; i < n; i++) _rows[ids[i]].Values.CopyTo(all, i * dim);
            return tensor(all, [n, dim]).to(input.device);
        }

        /// <summary>A projection of each row's input on a fixed random vector, in float64: equal for equal inputs, different otherwise but by design.</summary>
        private double[] Fingerprints(Tensor input)
        {
            var flat = input.reshape(input.shape[0], -1).to(ScalarType.Float64);
            if (Probe is null || Probe.shape[0] != flat.shape[1])
            {
                Probe?.Dispose();
                Probe = rand([flat.shape[1]], dtype: ScalarType.Float64, generator: new Generator(20251117)).to(input.device).DetachFromDisposeScope();
            }
            return flat.matmul(Probe).cpu().data<double>().ToArray();
        }
    }
}
