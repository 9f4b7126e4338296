using System.Diagnostics;
using Rwkv7.Gen.Benchmarking;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Specialized;
using Rwkv7.Gen.Tests.Generated;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Weights;
using Xunit.Abstractions;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// Decoding a token in steady state allocates nothing: not on the calling thread, not on the worker pool's threads that
/// run the split steps, not anywhere else in the process. Every model runs on a private pool of
/// <see cref="PoolThreads"/> threads, so its large steps are split onto workers on any machine (on one core they take
/// turns). Two counts per window of decoded tokens:
/// <list type="bullet">
/// <item>each pool thread's own count (<see cref="PoolThreadAllocations"/>), caller included: exact, and it must be 0 in
/// every window;</item>
/// <item>the whole process's, <see cref="GC.GetTotalAllocatedBytes(bool)"/> with <c>precise: true</c>, which also sees any
/// other thread decode might use. The test host's own threads allocate now and then while a test runs (168 bytes at a
/// time, several times a second here, with the test asleep too), so windows are kept short
/// (<see cref="WindowMilliseconds"/>) and one of up to <see cref="MaxWindows"/> must have allocated nothing, which
/// decode allocating on every token cannot do.</item>
/// </list>
/// </summary>
[Collection(ProcessWideMeasurements.Name)]
public sealed class SteadyStateAllocationTests(ITestOutputHelper output)
{
    private const int PoolThreads = 4;

    /// <summary>Tokens decoded in one measured window, at most.</summary>
    private const int WindowTokens = 16;

    /// <summary>A window ends after this long even with fewer tokens (at least one).</summary>
    private const int WindowMilliseconds = 20;

    /// <summary>Windows measured: at least the first, at most the second, until the process-wide count of one is 0.</summary>
    private const int MinWindows = 4, MaxWindows = 40;

    public enum Weights
    {
        /// <summary>A fixture file as stored.</summary>
        File,

        /// <summary>The same file's matrices quantized to 8 bits at load.</summary>
        FileQ8,

        /// <summary>The same file's matrices quantized to 4 bits at load.</summary>
        FileQ4,

        /// <summary>Synthetic 8-bit weights of the long-rows shape: its decode steps are large enough to split.</summary>
        LongRowsQ8,

        /// <summary>Synthetic 4-bit weights of the long-rows shape.</summary>
        LongRowsQ4,
    }

    [Theory]
    [InlineData(Models.TinyF32Safetensors, Weights.File)] // steps too small to split: the calling thread alone
    [InlineData(Models.Mh4Pth, Weights.File)] // the projections and both FFN steps split onto the workers
    [InlineData(Models.Mh4Pth, Weights.FileQ8)] // each product's inputs rounded to 16 bits in the workspace
    [InlineData(Models.Mh4Pth, Weights.FileQ4)] // the same, with the 4-bit products' inputs rearranged on the stack
    [InlineData(null, Weights.LongRowsQ8)] // 8-bit products split onto the workers
    [InlineData(null, Weights.LongRowsQ4)]
    public void Decoding_a_token_allocates_nothing_in_steady_state(string? file, Weights weights)
    {
        using var pool = new WorkerPool(PoolThreads);
        using RwkvModel model = Open(file, weights);
        Assert.StartsWith("generated", model.EngineName);
        UsePool(model, pool);
        Assert.Equal(PoolThreads, model.Threads);
        RwkvState state = model.CreateState();
        float[] logits = new float[model.Shape.Vocab];

        long allocated = SteadyStateAllocations(model, pool, state, logits, "decode");
        Assert.True(allocated == 0, $"{allocated} bytes allocated by the process in a window of decoded tokens (the least of {MaxWindows} windows)");

        // Recording step timings (bench --profile) allocates nothing either. Its path is new code to the JIT, so it
        // gets the same warm-up: measured after one token, the tiering of StepTimings.Add allocated (7,768 bytes in
        // one CI run).
        model.StepTimings = new StepTimings();
        allocated = SteadyStateAllocations(model, pool, state, logits, "decode with step timings");
        Assert.True(allocated == 0, $"{allocated} bytes allocated by the process in a window of decoded tokens with step timings (the least of {MaxWindows} windows)");
    }

    private static RwkvModel Open(string? file, Weights weights)
    {
        TensorDType? type = weights switch
        {
            Weights.FileQ8 or Weights.LongRowsQ8 => TensorDType.Q8,
            Weights.FileQ4 or Weights.LongRowsQ4 => TensorDType.Q4,
            _ => null,
        };
        if (file is not null)
        {
            return RwkvModel.Load(Fixtures.Path(file), new RwkvModelOptions { Weights = new WeightLoadOptions { MatrixType = type } });
        }

        RwkvWeights synthetic = RwkvWeights.CreateSynthetic(LongRowsModel.DeclaredShape, type!.Value, seed: 9);
        return RwkvModel.Create(synthetic, ownsWeights: true);
    }

    private static void UsePool(RwkvModel model, WorkerPool pool)
    {
        switch (model)
        {
            case SpecializedModel<TinyModel.Kernels> tiny: tiny.UseWorkerPool(pool); break;
            case SpecializedModel<Mh4Model.Kernels> mh4: mh4.UseWorkerPool(pool); break;
            case SpecializedModel<LongRowsModel.Kernels> longRows: longRows.UseWorkerPool(pool); break;
            default: throw new InvalidOperationException($"No pool hook for {model.EngineName}.");
        }
    }

    /// <summary>
    /// Warms decode up (workspaces made, pool threads started, and the JIT's tiering, which promotes hot methods in the
    /// background some 100 ms after their first calls, finished), then measures windows of decoded tokens: asserts that
    /// the pool's threads allocated nothing in each, and returns the least the process allocated in one.
    /// </summary>
    private long SteadyStateAllocations(RwkvModel model, WorkerPool pool, RwkvState state, float[] logits, string what)
    {
        var warmUp = Stopwatch.StartNew();
        for (int i = 0; i < 64 || warmUp.ElapsedMilliseconds < 500; i++)
        {
            model.Forward(i % model.Shape.Vocab, state, logits);
        }

        var threads = new PoolThreadAllocations(pool);
        int[] idsBefore = new int[threads.Threads], idsAfter = new int[threads.Threads];
        long[] before = new long[threads.Threads], after = new long[threads.Threads];
        long least = long.MaxValue;
        var windows = new List<string>();
        int tokens = 0;
        for (int window = 0; window < MaxWindows && (least > 0 || window < MinWindows); window++)
        {
            threads.Read(idsBefore, before);
            long processBefore = GC.GetTotalAllocatedBytes(precise: true);
            long start = Stopwatch.GetTimestamp();
            int n = 0;
            while (n < WindowTokens && (n == 0 || Stopwatch.GetElapsedTime(start).TotalMilliseconds < WindowMilliseconds))
            {
                model.Forward(n++ % model.Shape.Vocab, state, logits);
            }

            long process = GC.GetTotalAllocatedBytes(precise: true) - processBefore;
            threads.Read(idsAfter, after);
            tokens += n;
            Assert.Equal(idsBefore, idsAfter);
            long[] perThread = [.. after.Zip(before, (a, b) => a - b)];
            Assert.True(
                perThread.All(bytes => bytes == 0),
                $"{what}: the pool's threads allocated [{string.Join(", ", perThread)}] bytes (caller first) over {n} decoded tokens");
            windows.Add($"{process} ({n} tokens)");
            least = Math.Min(least, process);
        }

        output.WriteLine($"{model.EngineName}, {what}: the pool's {threads.Threads} threads allocated 0 bytes over {tokens} tokens; the process per window: {string.Join(", ", windows)}");
        return least;
    }
}
