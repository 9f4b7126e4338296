using Rwkv7.Gen.Specialized;

namespace Rwkv7.Gen.Tests.Infrastructure;

/// <summary>
/// Reads <see cref="GC.GetAllocatedBytesForCurrentThread"/> on every thread of a <see cref="WorkerPool"/>, the calling
/// thread included, by running one step of one part per thread. Each part waits until all have started, so no thread
/// can finish its part and take another's: participant k runs part k, every time. Reading allocates nothing.
/// </summary>
internal sealed unsafe class PoolThreadAllocations
{
    private readonly WorkerPool _pool;
    private readonly int[] _threadIds;
    private readonly long[] _bytes;
    private int _started;

    public PoolThreadAllocations(WorkerPool pool)
    {
        _pool = pool;
        _threadIds = new int[pool.Threads];
        _bytes = new long[pool.Threads];
    }

    /// <summary>Threads read (the pool's, the caller included).</summary>
    public int Threads => _pool.Threads;

    /// <summary>Copies each thread's id and the bytes it has allocated so far into the given arrays (one slot per thread).</summary>
    public void Read(int[] threadIds, long[] bytes)
    {
        Volatile.Write(ref _started, 0);
        _pool.Run(&ReadPart, this, _pool.Threads);
        _threadIds.CopyTo(threadIds, 0);
        _bytes.CopyTo(bytes, 0);
    }

    private static void ReadPart(object context, int part, int parts)
    {
        var self = (PoolThreadAllocations)context;
        self._threadIds[part] = Environment.CurrentManagedThreadId;
        self._bytes[part] = GC.GetAllocatedBytesForCurrentThread();
        Interlocked.Increment(ref self._started);
        var spin = default(SpinWait);
        while (Volatile.Read(ref self._started) < parts)
        {
            spin.SpinOnce();
        }
    }
}
