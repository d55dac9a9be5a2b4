using System;
using System.Threading;

namespace Microsoft.ML.Clip.Threading;

/// <summary>
/// Lets work in progress finish before an owner frees native memory: <see cref="Enter"/> marks a use until its lease
/// is disposed, <see cref="Close"/> refuses new uses and waits for the current ones. Source shared by the library
/// (the bundle) and the embedding generator assemblies.
/// </summary>
internal sealed class UsageGate
{
    private readonly object _lock = new();
    private int _users;
    private bool _closed;

    /// <summary>True once <see cref="Close"/> was called.</summary>
    public bool IsClosed
    {
        get
        {
            lock (_lock) return _closed;
        }
    }

    /// <summary>Marks a use in progress until the lease is disposed.</summary>
    /// <param name="owner">Named in the exception when the gate is closed.</param>
    /// <exception cref="ObjectDisposedException">The gate is closed (the owner was disposed).</exception>
    public Lease Enter(object owner)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, owner);
            _users++;
        }
        return new Lease(this);
    }

    /// <summary>Refuses new uses and waits for the current ones; true the first time (the caller then frees), false after.</summary>
    /// <remarks>Never call it from inside a use of the same gate: it would wait for itself.</remarks>
    public bool Close()
    {
        lock (_lock)
        {
            if (_closed) return false;
            _closed = true;
            while (_users > 0) Monitor.Wait(_lock);
            return true;
        }
    }

    private void Leave()
    {
        lock (_lock)
            if (--_users == 0) Monitor.PulseAll(_lock);
    }

    /// <summary>A use in progress (see <see cref="Enter"/>).</summary>
    public readonly struct Lease(UsageGate gate) : IDisposable
    {
        /// <summary>Ends the use.</summary>
        public void Dispose() => gate.Leave();
    }
}
