using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Benchmarking;

/// <summary>What a probe or a benchmark times with.</summary>
public enum ProbeClock
{
    /// <summary>Elapsed time: what a user waits.</summary>
    Wall,

    /// <summary>
    /// The calling thread's CPU time (Linux): leaves out the time the thread waited for a core while other programs ran,
    /// so single-thread compute-bound figures stay comparable on a busy shared machine. One thread only.
    /// </summary>
    ThreadCpu,
}

/// <summary>
/// Measures the two hardware floors that decode and prefill are judged against, on the spot: streaming read
/// bandwidth (decode must read every weight once per token) and fused multiply-add throughput (prefill is
/// arithmetic). Each figure is the best of several repetitions, taken on the widest vectors the machine runs.
/// </summary>
public static class HardwareProbe
{
    /// <summary>Independent FMA chains per thread: enough to hide FMA latency on current cores.</summary>
    private const int FmaChains = 12;

    /// <summary>Bytes each timed repetition streams at least (a small buffer is read several times over).</summary>
    private const long MinBytesPerRepetition = 256L << 20;

    /// <summary>
    /// Streaming read bandwidth in bytes per second with <paramref name="threads"/> threads, each summing its share of
    /// the first <paramref name="bytes"/> of <paramref name="weights"/>' own packed matrices, read as many times as it
    /// takes to stream 256 MiB (best of <paramref name="repetitions"/>), timed by <paramref name="clock"/> (the calling
    /// thread's CPU time needs <paramref name="threads"/> = 1). Give the size of the data a workload streams: data that
    /// fits a cache measures that cache. The weights are memory already resident, so the probe allocates nothing and
    /// adds nothing to the process's peak resident memory, and can run before a benchmark's timed phases as well as
    /// after them; weights smaller than <paramref name="bytes"/> are probed with a buffer of that size instead.
    /// </summary>
    public static unsafe double MeasureReadBandwidth(int threads, RwkvWeights weights, long bytes, ProbeClock clock = ProbeClock.Wall, int repetitions = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1);
        CheckClock(clock, threads);
        if (bytes > weights.MatrixBytes)
        {
            using var buffer = new NativeBuffer(bytes);
            for (long i = 0; i < bytes; i += 4096)
            {
                buffer.Pointer[i] = 1; // commit every page before timing
            }

            return MeasureReadBandwidth(threads, buffer.Pointer, bytes, repetitions, clock);
        }

        double best = MeasureReadBandwidth(threads, weights.Arena.Pointer, bytes, repetitions, clock);
        GC.KeepAlive(weights);
        return best;
    }

    private static unsafe double MeasureReadBandwidth(int threads, byte* data, long bytes, int repetitions, ProbeClock clock)
    {
        long perThread = bytes / threads / 256 * 256;
        long passes = Math.Max(1, (MinBytesPerRepetition + bytes - 1) / bytes);
        double best = 0;
        for (int rep = 0; rep < repetitions; rep++)
        {
            double start = Now(clock);
            RunOnThreads(threads, t =>
            {
                for (long pass = 0; pass < passes; pass++)
                {
                    Sink(SumBytes(data + (t * perThread), perThread));
                }
            });
            double seconds = Now(clock) - start;
            best = Math.Max(best, perThread * threads * passes / seconds);
        }

        return best;
    }

    /// <summary>
    /// Fused multiply-add throughput in FLOP/s (2 per lane per FMA) with <paramref name="threads"/> threads, on the
    /// widest accelerated vector width (best of <paramref name="repetitions"/>), timed by <paramref name="clock"/> (the
    /// calling thread's CPU time needs <paramref name="threads"/> = 1).
    /// </summary>
    public static double MeasureFmaThroughput(int threads, ProbeClock clock = ProbeClock.Wall, long iterations = 20_000_000, int repetitions = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        CheckClock(clock, threads);
        int lanes = Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : Vector128.IsHardwareAccelerated ? 4 : 1;
        double best = 0;
        for (int rep = 0; rep < repetitions; rep++)
        {
            double start = Now(clock);
            RunOnThreads(threads, _ => Sink(FmaLoop(iterations)));
            double seconds = Now(clock) - start;
            best = Math.Max(best, iterations * FmaChains * lanes * 2.0 * threads / seconds);
        }

        return best;
    }

    /// <summary>Whether the calling thread's CPU time can be read here (<see cref="ProbeClock.ThreadCpu"/>: Linux).</summary>
    public static bool ThreadCpuClockAvailable => Platform.LibC.ThreadCpuSeconds() is not null;

    /// <summary>The time of <paramref name="clock"/>, in seconds from an arbitrary origin.</summary>
    /// <exception cref="NotSupportedException">The thread CPU clock cannot be read on this system.</exception>
    public static double Now(ProbeClock clock) => clock == ProbeClock.Wall
        ? Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency
        : Platform.LibC.ThreadCpuSeconds() ?? throw new NotSupportedException("The thread CPU clock cannot be read on this system.");

    private static void CheckClock(ProbeClock clock, int threads)
    {
        if (clock == ProbeClock.ThreadCpu && threads != 1)
        {
            throw new ArgumentException("The thread CPU clock times the calling thread only: measure with one thread.", nameof(clock));
        }
    }

    /// <summary>The widest SIMD width the JIT (or AOT compiler) accelerates here, as generated kernels select it.</summary>
    public static string VectorWidthName =>
        Vector512.IsHardwareAccelerated ? "Vector512"
        : Vector256.IsHardwareAccelerated ? "Vector256"
        : Vector128.IsHardwareAccelerated ? "Vector128"
        : "scalar";

    private static void RunOnThreads(int threads, Action<int> body)
    {
        if (threads == 1)
        {
            body(0);
            return;
        }

        var workers = new Thread[threads - 1];
        using var go = new ManualResetEventSlim(false);
        for (int t = 1; t < threads; t++)
        {
            int index = t;
            workers[t - 1] = new Thread(() =>
            {
                go.Wait();
                body(index);
            });
            workers[t - 1].Start();
        }

        go.Set();
        body(0);
        foreach (Thread w in workers)
        {
            w.Join();
        }
    }

    private static float _sink;

    private static void Sink(float value) => Volatile.Write(ref _sink, value);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float SumBytes(byte* p, long bytes)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a = default, b = default, c = default, d = default;
            for (long i = 0; i < bytes; i += 256)
            {
                a += Vector512.Load((float*)(p + i));
                b += Vector512.Load((float*)(p + i + 64));
                c += Vector512.Load((float*)(p + i + 128));
                d += Vector512.Load((float*)(p + i + 192));
            }

            return Vector512.Sum(a + b + c + d);
        }

        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> a = default, b = default, c = default, d = default;
            for (long i = 0; i < bytes; i += 128)
            {
                a += Vector256.Load((float*)(p + i));
                b += Vector256.Load((float*)(p + i + 32));
                c += Vector256.Load((float*)(p + i + 64));
                d += Vector256.Load((float*)(p + i + 96));
            }

            return Vector256.Sum(a + b + c + d);
        }

        Vector128<float> s = default;
        for (long i = 0; i < bytes; i += 16)
        {
            s += Vector128.Load((float*)(p + i));
        }

        return Vector128.Sum(s);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float FmaLoop(long iterations)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            return FmaLoop512(iterations);
        }

        if (Vector256.IsHardwareAccelerated)
        {
            return FmaLoop256(iterations);
        }

        return FmaLoop128(iterations);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop512(long iterations)
    {
        Vector512<float> m = Vector512.Create(0.999999f), k = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        Vector512<float> a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, k); a1 = Vector512.FusedMultiplyAdd(a1, m, k);
            a2 = Vector512.FusedMultiplyAdd(a2, m, k); a3 = Vector512.FusedMultiplyAdd(a3, m, k);
            a4 = Vector512.FusedMultiplyAdd(a4, m, k); a5 = Vector512.FusedMultiplyAdd(a5, m, k);
            a6 = Vector512.FusedMultiplyAdd(a6, m, k); a7 = Vector512.FusedMultiplyAdd(a7, m, k);
            a8 = Vector512.FusedMultiplyAdd(a8, m, k); a9 = Vector512.FusedMultiplyAdd(a9, m, k);
            a10 = Vector512.FusedMultiplyAdd(a10, m, k); a11 = Vector512.FusedMultiplyAdd(a11, m, k);
        }

        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop256(long iterations)
    {
        Vector256<float> m = Vector256.Create(0.999999f), k = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        Vector256<float> a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector256.MultiplyAddEstimate(a0, m, k); a1 = Vector256.MultiplyAddEstimate(a1, m, k);
            a2 = Vector256.MultiplyAddEstimate(a2, m, k); a3 = Vector256.MultiplyAddEstimate(a3, m, k);
            a4 = Vector256.MultiplyAddEstimate(a4, m, k); a5 = Vector256.MultiplyAddEstimate(a5, m, k);
            a6 = Vector256.MultiplyAddEstimate(a6, m, k); a7 = Vector256.MultiplyAddEstimate(a7, m, k);
            a8 = Vector256.MultiplyAddEstimate(a8, m, k); a9 = Vector256.MultiplyAddEstimate(a9, m, k);
            a10 = Vector256.MultiplyAddEstimate(a10, m, k); a11 = Vector256.MultiplyAddEstimate(a11, m, k);
        }

        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop128(long iterations)
    {
        Vector128<float> m = Vector128.Create(0.999999f), k = Vector128.Create(1e-7f);
        Vector128<float> a0 = Vector128.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        Vector128<float> a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector128.MultiplyAddEstimate(a0, m, k); a1 = Vector128.MultiplyAddEstimate(a1, m, k);
            a2 = Vector128.MultiplyAddEstimate(a2, m, k); a3 = Vector128.MultiplyAddEstimate(a3, m, k);
            a4 = Vector128.MultiplyAddEstimate(a4, m, k); a5 = Vector128.MultiplyAddEstimate(a5, m, k);
            a6 = Vector128.MultiplyAddEstimate(a6, m, k); a7 = Vector128.MultiplyAddEstimate(a7, m, k);
            a8 = Vector128.MultiplyAddEstimate(a8, m, k); a9 = Vector128.MultiplyAddEstimate(a9, m, k);
            a10 = Vector128.MultiplyAddEstimate(a10, m, k); a11 = Vector128.MultiplyAddEstimate(a11, m, k);
        }

        return Vector128.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
