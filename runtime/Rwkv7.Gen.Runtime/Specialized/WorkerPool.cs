using System.Runtime.CompilerServices;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// A persistent pool of worker threads that run one parallel step at a time together with the calling thread.
/// Dispatch allocates nothing: the work is a function pointer plus a context object, and workers wait for the
/// next step by spinning briefly, then sleeping on a per-worker semaphore.
/// </summary>
/// <remarks>
/// A decoded token is a chain of dependent matrix products, so the pool is built for many short steps: a step is
/// published by bumping a generation counter that spinning workers see within nanoseconds; the caller runs part 0
/// itself and spins until the others are done. Steps from different callers are serialized by a lock.
/// </remarks>
public sealed unsafe class WorkerPool : IDisposable
{
    /// <summary>Spin iterations a worker waits for new work before going to sleep (tens of microseconds).</summary>
    private const int SpinIterations = 20_000;

    private static readonly Lazy<WorkerPool> SharedPool = new(() => new WorkerPool(Environment.ProcessorCount));

    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _wake;
    private readonly int[] _sleeping;
    private readonly object _dispatch = new();
    private delegate*<object, int, int, void> _work;
    private object? _context;
    private int _parts;
    private int _generation;
    private int _remaining;
    private volatile bool _disposed;
    private Exception? _failure;

    /// <summary>Creates a pool that runs steps on up to <paramref name="threads"/> threads (the caller included).</summary>
    public WorkerPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
        _threads = new Thread[threads - 1];
        _wake = new SemaphoreSlim[threads - 1];
        _sleeping = new int[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _wake[i] = new SemaphoreSlim(0);
            int index = i + 1;
            _threads[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"Rwkv7.Gen worker {index}" };
            _threads[i].Start();
        }
    }

    /// <summary>The process-wide pool, one thread per processor.</summary>
    public static WorkerPool Shared => SharedPool.Value;

    /// <summary>Threads a step can use, the calling thread included.</summary>
    public int Threads { get; }

    /// <summary>
    /// Runs <paramref name="work"/>(<paramref name="context"/>, part, <paramref name="parts"/>) for every part in
    /// [0, parts) in parallel and returns when all are done. Part 0 runs on the calling thread.
    /// </summary>
    public void Run(delegate*<object, int, int, void> work, object context, int parts)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        parts = Math.Clamp(parts, 1, Threads);
        if (parts == 1)
        {
            work(context, 0, 1);
            return;
        }

        lock (_dispatch)
        {
            _work = work;
            _context = context;
            _parts = parts;
            _failure = null;
            Volatile.Write(ref _remaining, parts - 1);
            Interlocked.Increment(ref _generation);
            for (int i = 0; i < parts - 1; i++)
            {
                if (Interlocked.Exchange(ref _sleeping[i], 0) == 1)
                {
                    _wake[i].Release();
                }
            }

            Exception? own = null;
            try
            {
                work(context, 0, parts);
            }
            catch (Exception e)
            {
                own = e;
            }

            var spin = new SpinWait();
            while (Volatile.Read(ref _remaining) != 0)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }

            _context = null;
            Exception? failure = own ?? _failure;
            if (failure is not null)
            {
                throw new AggregateException("A parallel step of the model failed.", failure);
            }
        }
    }

    private void WorkerLoop(int index)
    {
        int seen = Volatile.Read(ref _generation);
        while (true)
        {
            int spins = 0;
            int generation;
            while ((generation = Volatile.Read(ref _generation)) == seen)
            {
                if (_disposed)
                {
                    return;
                }

                if (++spins < SpinIterations)
                {
                    Thread.SpinWait(8);
                    continue;
                }

                // Announce sleep, then check once more: a dispatcher that published before seeing the flag would
                // otherwise never wake us.
                Interlocked.Exchange(ref _sleeping[index - 1], 1);
                if (Volatile.Read(ref _generation) == seen && !_disposed)
                {
                    _wake[index - 1].Wait();
                }

                Interlocked.Exchange(ref _sleeping[index - 1], 0);
                spins = 0;
            }

            seen = generation;
            if (index < _parts)
            {
                try
                {
                    _work(_context!, index, _parts);
                }
                catch (Exception e)
                {
                    _failure = e;
                }

                Interlocked.Decrement(ref _remaining);
            }
        }
    }

    /// <summary>Stops the workers.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (SemaphoreSlim s in _wake)
        {
            s.Release();
        }
    }

    /// <summary>Splits [0, count) into <paramref name="parts"/> contiguous ranges aligned to <paramref name="align"/>; returns part <paramref name="part"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (int Start, int End) Range(int count, int part, int parts, int align = 1)
    {
        int units = (count + align - 1) / align;
        int start = (int)((long)units * part / parts) * align;
        int end = (int)((long)units * (part + 1) / parts) * align;
        return (Math.Min(start, count), Math.Min(end, count));
    }
}
