using System;
using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;

namespace Microsoft.ML.Clip.Distributed;

/// <summary>
/// One thread that makes every MPI call of the process, in the order they were posted. MPI then needs only
/// MPI_THREAD_FUNNELED support, and a non-blocking collective is simply a posted job the caller waits for
/// later: the thread runs it while the caller goes on computing (back-propagation of the other tower).
/// </summary>
internal sealed class CollectiveThread : IDisposable
{
    private readonly BlockingCollection<Action> _jobs = new();
    private readonly Thread _thread;
    private long _busyTicks;

    public CollectiveThread(string name)
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    private void Loop()
    {
        foreach (var job in _jobs.GetConsumingEnumerable())
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            job();
            Interlocked.Add(ref _busyTicks, System.Diagnostics.Stopwatch.GetTimestamp() - start);
        }
    }

    /// <summary>Time spent running jobs so far.</summary>
    public TimeSpan Busy => System.Diagnostics.Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _busyTicks));

    /// <summary>Runs <paramref name="work"/> on the thread; completes when it has.</summary>
    public Task RunAsync(Action work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _jobs.Add(() =>
        {
            try { work(); done.SetResult(); }
            catch (Exception error) { done.SetException(error); }
        });
        return done.Task;
    }

    /// <summary>Runs <paramref name="work"/> on the thread and waits for it; its exception is rethrown here.</summary>
    public void Run(Action work) => RunAsync(work).GetAwaiter().GetResult();

    /// <summary>Runs <paramref name="work"/> on the thread and returns its result.</summary>
    public T Run<T>(Func<T> work)
    {
        T result = default!;
        Run(() => { result = work(); });
        return result;
    }

    public void Dispose()
    {
        _jobs.CompleteAdding();
        if (Thread.CurrentThread != _thread) _thread.Join();
    }
}
