using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.ML.Clip.Extensions.AI;
using Xunit;
using static Microsoft.ML.Clip.Tests.EmbeddingGenerators.GeneratorTestData;

namespace Microsoft.ML.Clip.Tests.EmbeddingGenerators;

/// <summary>One registration call, and Microsoft.Extensions.AI's own middleware (cache, logging, OpenTelemetry) composed on top.</summary>
public class DependencyInjectionTests
{
    [Fact]
    public async Task RegisteredGeneratorsComposeWithCachingLoggingAndTelemetry()
    {
        var examples = Examples(3);
        using var bundle = Bundle(examples);
        string source = "ClipMlNet.Tests." + Guid.NewGuid().ToString("N");
        var activities = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == source,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Add,
        };
        ActivitySource.AddActivityListener(listener);
        var logs = new LogCapture();

        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        services.AddDistributedMemoryCache();
        // Outermost first: the cache answers repeats before logging and telemetry see them.
        services.AddClipTextEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { ModelId = "micro" })
            .UseDistributedCache().UseLogging().UseOpenTelemetry(sourceName: source);
        services.AddClipImageEmbeddingGenerator(bundle, new ClipEmbeddingGeneratorOptions { ModelId = "micro" })
            .UseDistributedCache().UseOpenTelemetry(sourceName: source);

        IEmbeddingGenerator<string, Embedding<float>> texts;
        using (var provider = services.BuildServiceProvider())
        {
            texts = provider.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>();
            var images = provider.GetRequiredService<IEmbeddingGenerator<DataContent, Embedding<float>>>();

            var first = await texts.GenerateAsync(Captions(examples));
            var again = await texts.GenerateAsync(Captions(examples));
            var pictures = await images.GenerateAsync(Images(examples));
            var picturesAgain = await images.GenerateAsync(Images(examples));

            // The repeats came from the cache: one model call (one telemetry span) per generator, the same vectors.
            Assert.Equal(2, activities.Count);
            Assert.All(activities, a => Assert.Contains("micro", a.DisplayName));
            Assert.Equal(Vectors(first), Vectors(again));
            Assert.Equal(Vectors(pictures), Vectors(picturesAgain));
            Assert.Contains(logs.Messages, m => m.Contains("GenerateAsync"));

            // Metadata and the bundle are reachable through the middleware.
            Assert.Equal(ClipTextEmbeddingGenerator.ProviderName, texts.GetService<EmbeddingGeneratorMetadata>()!.ProviderName);
            Assert.Equal(bundle.EmbeddingSize, images.GetService<EmbeddingGeneratorMetadata>()!.DefaultModelDimensions);
            Assert.Same(bundle, texts.GetService<ClipModelBundle>());
            Assert.NotNull(images.GetService<ClipImageEmbeddingGenerator>());
        }
        // The container disposed the generators it built, not the caller's bundle.
        await Assert.ThrowsAsync<ObjectDisposedException>(() => texts.GenerateAsync(["a new caption"]));
        using var direct = bundle.AsTextEmbeddingGenerator();
        Assert.Single(await direct.GenerateAsync(["a"]));
    }

    private sealed class LogCapture : ILoggerProvider
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(Messages);

        public void Dispose() { }

        private sealed class Logger(ConcurrentQueue<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                messages.Enqueue(formatter(state, exception));
        }
    }
}
