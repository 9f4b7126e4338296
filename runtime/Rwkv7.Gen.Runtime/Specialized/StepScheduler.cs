using System.Diagnostics;
using Rwkv7.Gen.Benchmarking;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Decides into how many parts each step of a forward pass is split, and runs the parts on the persistent
/// <see cref="WorkerPool"/>. The cost model estimates a step's one-thread time from what it streams and computes, with
/// the processor's figures (<see cref="CpuTuning"/>), and splits a step only when that time is long enough to repay
/// waking the workers and moving activations between cores. Splitting never changes a result: parts own disjoint rows
/// (or heads, or sessions).
/// </summary>
internal sealed unsafe class StepScheduler
{
    private WorkerPool _pool;
    private int _threads;

    public StepScheduler(WorkerPool pool, CpuTuning tuning)
    {
        _pool = pool;
        _threads = pool.Threads;
        Tuning = tuning;
    }

    /// <summary>The processor's choices the cost model reads.</summary>
    public CpuTuning Tuning { get; set; }

    /// <summary>Threads a step may use (at most the pool's).</summary>
    public int Threads
    {
        get => _threads;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _threads = Math.Min(value, _pool.Threads);
        }
    }

    /// <summary>Runs later steps on <paramref name="pool"/>, with all of its threads.</summary>
    public void UsePool(WorkerPool pool)
    {
        _pool = pool;
        _threads = pool.Threads;
    }

    /// <summary>Parts of a step worth splitting: several per thread (<see cref="CpuTuning.PartsPerThread"/>), or 1 on one thread.</summary>
    private int Parts => _threads > 1 ? Math.Min(_threads * Tuning.PartsPerThread, WorkerPool.MaxParts) : 1;

    /// <summary>The tuning's split threshold in nanoseconds, the unit of the cost model.</summary>
    private double MinParallelNanoseconds => Tuning.MinParallelMicroseconds * 1000;

    /// <summary>
    /// Parts of a matrix step over <paramref name="weightBytes"/> of weights (<paramref name="weights"/> elements) that
    /// reads and writes <paramref name="activations"/> floats for each of <paramref name="rows"/> rows. It is split when
    /// streaming the weights or doing the multiply-adds would keep one thread busy long enough (decode is bound by the
    /// first, prefill and batches by the second), and when that time is well above the cost of moving the activations
    /// between the cores' caches, which the next step pays when another thread wrote them
    /// (<see cref="CpuTuning.MinWorkToMigration"/>). On Zen 5 the tiny shape's 64-wide steps fail the second test: split,
    /// its prefill ran at 26–31k tokens/s on two threads against 43k on one (docs/benchmarks.md, change 10).
    /// </summary>
    public int MatrixParts(long weightBytes, long weights, long activations, int rows)
    {
        CpuTuning tuning = Tuning;
        double work = Math.Max(weightBytes / tuning.StreamBytesPerNanosecond, (double)weights * rows / tuning.MultiplyAddsPerNanosecond);
        double migration = (double)activations * rows * sizeof(float) / tuning.CrossCoreBytesPerNanosecond;
        return work >= MinParallelNanoseconds && work >= tuning.MinWorkToMigration * migration ? Parts : 1;
    }

    /// <summary>Parts of a step over <paramref name="rows"/> rows of <paramref name="width"/> elements (LayerNorm, token shift).</summary>
    public int RowParts(int rows, int width) =>
        (double)rows * width / Tuning.RowElementsPerNanosecond >= MinParallelNanoseconds ? Parts : 1;

    /// <summary>
    /// Parts of the per-head step over <paramref name="rows"/> rows of <paramref name="heads"/> heads: a sequence split
    /// by heads (every part runs every row, in order, for its heads), a batch by sessions, each at most one part per
    /// head or session. Its one-thread time is the rows' arithmetic plus reading each head's 64 × 64 fp32 state once
    /// (a sequence reads a head's state once for all its rows; a batch, once per session) at the streaming rate: a
    /// one-token step of 0.1B's 12 heads comes to 13 µs, 3.6 of them arithmetic, as <c>bench --profile</c> measures (12 µs).
    /// </summary>
    public int HeadParts(int rows, int heads, bool chained)
    {
        double states = chained ? heads : (double)rows * heads;
        double work = (rows * heads * Tuning.HeadRowNanoseconds) + (states * StateBytes / Tuning.StreamBytesPerNanosecond);
        return work < MinParallelNanoseconds ? 1
            : chained ? Math.Min(Parts, heads)
            : Math.Min(Parts, rows);
    }

    /// <summary>Bytes of one head's WKV state (64 × 64 fp32).</summary>
    private const int StateBytes = 64 * 64 * sizeof(float);

    /// <summary>
    /// Runs <paramref name="parts"/> parts of the step <paramref name="step"/> describes with <paramref name="run"/>, and
    /// adds its time to <paramref name="timings"/> when they are kept.
    /// </summary>
    public void Run(delegate*<object, int, int, void> run, StepContext step, int parts, long weightBytes, StepTimings? timings)
    {
        if (timings is null)
        {
            _pool.Run(run, step, parts);
            return;
        }

        long start = Stopwatch.GetTimestamp();
        _pool.Run(run, step, parts);
        timings.Add(step.Kind, Stopwatch.GetTimestamp() - start, weightBytes);
    }
}
