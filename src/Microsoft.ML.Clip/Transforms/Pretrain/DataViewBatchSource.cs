using Microsoft.ML.Clip.Imaging;
using Microsoft.ML.Clip.Training;
using Microsoft.ML.Clip.Transforms.Batching;
using Microsoft.ML.Clip.Transforms.Clip;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Transforms.Pretrain;

/// <summary>
/// ClipPretrain's training rows as an <see cref="ITrainingBatchSource"/>: each epoch in the order
/// <see cref="EpochOrder"/> chose, decoded, preprocessed and tokenized on worker threads ahead of the model
/// (<see cref="ReadAheadPipeline"/>), keeping this process's share of every global batch.
/// </summary>
internal sealed class DataViewBatchSource : ITrainingBatchSource
{
    private readonly EpochOrder _order;
    private readonly ClipPretrainOptions _options;
    private readonly ClipModelBundle _bundle;
    private readonly ClipImagePreprocessor _preprocessor;
    private readonly int _localBatch;
    private readonly RowShard? _shard;
    private readonly BadRowLog _badRows;

    /// <summary>Counts <paramref name="train"/>'s rows and chooses its epoch order (logged on <paramref name="log"/>).</summary>
    public DataViewBatchSource(IHostEnvironment env, IDataView train, ClipPretrainOptions options, ClipModelBundle bundle,
        int localBatch, RowShard? shard, BadRowLog badRows, IChannel? log)
    {
        _options = options;
        _bundle = bundle;
        _preprocessor = new ClipImagePreprocessor(bundle.Preprocessing);
        _localBatch = localBatch;
        _shard = shard;
        _badRows = badRows;
        RowCount = DataViewRows.Count(train);
        _order = EpochOrder.Choose(env, train, RowCount, options, log);
    }

    public long RowCount { get; }

    public long SkippedRows => _badRows.Count;

    public ITrainingBatchReader OpenEpoch(int epoch)
    {
        var (view, random) = _order.For(epoch);
        var image = ImageInput.Bind(view.Schema, _options.ImageColumnName, _preprocessor);
        var text = TextInput.Bind(view.Schema, _options.TextColumnName, _bundle.Tokenizer, _bundle.ContextLength, _bundle.Model.Config.Text.VocabSize);
        var cursor = SerialCursor.Create(view, [view.Schema[image.ColumnIndex], view.Schema[text.ColumnIndex]], random);
        var pipeline = new ReadAheadPipeline(new ClipInputSession(cursor, image, text, [], _badRows.Handler), cursor, _localBatch, shard: _shard);
        return new Reader(pipeline, _bundle.Preprocessing.ImageSize, _bundle.ContextLength);
    }


    private sealed class Reader(ReadAheadPipeline pipeline, int imageSize, int contextLength) : ITrainingBatchReader
    {
        public SourceBatch? Next() => pipeline.Next() is ClipInputBatch batch ? new Batch(batch, imageSize, contextLength) : null;

        public void Dispose() => pipeline.Dispose();
    }

    /// <summary>A read batch; its tensors are copies of the batch's arrays.</summary>
    private sealed class Batch(ClipInputBatch batch, int imageSize, int contextLength) : SourceBatch
    {
        public override int Count => batch.Count;

        public override TrainingBatch ToTensors(Device device)
        {
            // Row ids name the records (the same in every epoch order): a locked tower's features are cached by them.
            var onCpu = new TrainingBatch(batch.PixelTensor(imageSize), batch.TokenTensor(contextLength), batch.RowIndices[..batch.Count]);
            if (device.type == TorchSharp.DeviceType.CPU) return onCpu;
            using (onCpu) return onCpu.To(device);
        }
    }
}
