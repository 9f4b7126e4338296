using System.Numerics;
using System.Runtime.CompilerServices;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// A persistent pool of worker threads that run one parallel step at a time together with the calling thread.
/// Dispatch allocates nothing: the work is a function pointer plus a context object, and workers wait for the
/// next step by spinning briefly, then sleeping on a per-worker semaphore.
/// </summary>
/// <remarks>
/// <para>
/// A decoded token is a chain of dependent matrix products, so the pool is built for many short steps: a step is
/// published by bumping a generation counter that spinning workers see within nanoseconds. Steps from different
/// callers are serialized.
/// </para>
/// <para>
/// Each participant (the caller is 0, worker k is k) has its own run of consecutive parts, [k·parts/threads,
/// (k+1)·parts/threads), and claims them in order, so a thread's parts of a matrix step are adjacent rows and its
/// weights arrive as one stream rather than several short ones (0.1B, 2 threads: 8-bit decode 1.007–1.188 times as
/// fast as with parts claimed in plain order, median ratios of four in-process A/B runs; docs/benchmarks.md, change 26). Parts are
/// not bound to threads, though: a participant out of parts of its own takes the last unclaimed part of another's
/// run, so when a worker is descheduled — a busy machine — the caller runs that worker's parts too and the step
/// degrades to one-thread speed instead of waiting. Claims are bits of one 64-bit word that also holds the step's
/// generation, hence at most <see cref="MaxParts"/> parts.
/// </para>
/// </remarks>
internal sealed unsafe class WorkerPool : IDisposable
{
    /// <summary>Spin iterations a worker waits for new work before going to sleep (tens of microseconds).</summary>
    private const int SpinIterations = 20_000;

    /// <summary>Most parts a step can be split into on more than one thread (one claim bit each).</summary>
    public const int MaxParts = 32;

    private static readonly Lazy<WorkerPool> SharedPool = new(() => new WorkerPool(Environment.ProcessorCount));

    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _wake;
    private readonly int[] _sleeping;
    private readonly object _dispatch = new();
    private delegate*<object, int, int, void> _work;
    private object? _context;
    private int _parts;
    private int _generation;
    private long _ticket;
    private int _pending;
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
    /// [0, parts) and returns when all are done. Parts run in parallel on the workers and the calling thread.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(delegate*<object, int, int, void> work, object context, int parts)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(parts, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(parts, MaxParts);
        if (parts == 1 || Threads == 1)
        {
            for (int p = 0; p < parts; p++)
            {
                work(context, p, parts);
            }

            return;
        }

        lock (_dispatch)
        {
            _work = work;
            _context = context;
            _parts = parts;
            _failure = null;
            Volatile.Write(ref _pending, parts);
            int generation = _generation + 1;
            Volatile.Write(ref _ticket, (long)generation << 32);
            Volatile.Write(ref _generation, generation);
            int helpers = Math.Min(parts, Threads) - 1;
            for (int i = 0; i < helpers; i++)
            {
                if (Interlocked.Exchange(ref _sleeping[i], 0) == 1)
                {
                    _wake[i].Release();
                }
            }

            RunParts(generation, 0);

            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }

            _context = null;
            if (_failure is { } failure)
            {
                throw new AggregateException("A parallel step of the model failed.", failure);
            }
        }
    }

    /// <summary>Claims and runs parts of step <paramref name="generation"/> until none is left.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunParts(int generation, int participant)
    {
        while (true)
        {
            long ticket = Volatile.Read(ref _ticket);
            if ((int)(ticket >> 32) != generation)
            {
                return; // a later step has started: this one is fully claimed
            }

            int parts = _parts;
            int part = NextPart((uint)ticket, participant, parts, Threads);
            if (part < 0)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _ticket, ticket | (1L << part), ticket) != ticket)
            {
                continue; // another participant claimed a part meanwhile
            }

            try
            {
                _work(_context!, part, _parts);
            }
            catch (Exception e)
            {
                _failure = e;
            }

            Interlocked.Decrement(ref _pending);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
            RunParts(generation, index);
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

    /// <summary>
    /// The part <paramref name="participant"/> claims next, given the parts already <paramref name="claimed"/> (one bit
    /// each): the first unclaimed part of its own run, else the last unclaimed part of anyone's (the end of another
    /// participant's run, farthest from where that participant is working); -1 when every part is claimed.
    /// </summary>
    internal static int NextPart(uint claimed, int participant, int parts, int threads)
    {
        uint all = parts == 32 ? uint.MaxValue : (1u << parts) - 1;
        uint free = ~claimed & all;
        if (free == 0)
        {
            return -1;
        }

        int first = participant * parts / threads, end = (participant + 1) * parts / threads;
        uint own = end > first ? (uint.MaxValue >> (32 - (end - first))) << first : 0;
        own &= free;
        return own != 0 ? BitOperations.TrailingZeroCount(own) : 31 - BitOperations.LeadingZeroCount(free);
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
