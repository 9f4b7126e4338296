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
/// run the split steps. Every model runs on a private pool of <see cref="PoolThreads"/> threads, so the large steps are
/// split onto workers on any machine (on one core they take turns).
/// </summary>
[Collection(ProcessWideMeasurements.Name)]
public sealed class SteadyStateAllocationTests(ITestOutputHelper output)
{
    private const int PoolThreads = 4;

    /// <summary>Tokens decoded in one measured window.</summary>
    private const int WindowTokens = 8;

    /// <summary>
    /// Windows measured at most. The test host's own threads allocate now and then while a test runs (about 6 KB every
    /// 100 ms or so here, measured with the test asleep), so a long window is rarely clean; a short one mostly is. An
    /// allocation of decode's own, made at least once every <see cref="WindowTokens"/> tokens, shows in every window:
    /// one window that allocated nothing at all is the proof.
    /// </summary>
    private const int MaxWindows = 20;

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

        long allocated = SteadyStateAllocations(model, state, logits, "decode");
        Assert.True(allocated == 0, $"{allocated} bytes allocated by the process over {WindowTokens} decoded tokens (the least of {MaxWindows} windows)");

        // Recording step timings (bench --profile) allocates nothing either. Its path is new code to the JIT, so it
        // gets the same warm-up: measured after one token, the tiering of StepTimings.Add allocated (7,768 bytes in
        // one CI run).
        model.StepTimings = new StepTimings();
        allocated = SteadyStateAllocations(model, state, logits, "decode with step timings");
        Assert.True(allocated == 0, $"{allocated} bytes allocated by the process over {WindowTokens} decoded tokens with step timings (the least of {MaxWindows} windows)");
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
    /// Bytes the whole process allocates over <see cref="WindowTokens"/> decoded tokens in steady state (workspaces
    /// made, pool threads started, and the JIT's tiering, which promotes hot methods in the background some 100 ms
    /// after their first calls, finished): the least of up to <see cref="MaxWindows"/> windows, stopping at the first
    /// that allocated nothing.
    /// </summary>
    private long SteadyStateAllocations(RwkvModel model, RwkvState state, float[] logits, string what)
    {
        var warmUp = Stopwatch.StartNew();
        for (int i = 0; i < 64 || warmUp.ElapsedMilliseconds < 500; i++)
        {
            model.Forward(i % model.Shape.Vocab, state, logits);
        }

        long least = long.MaxValue;
        var windows = new List<long>();
        for (int window = 0; window < MaxWindows && least > 0; window++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < WindowTokens; i++)
            {
                model.Forward(i % model.Shape.Vocab, state, logits);
            }

            long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            windows.Add(allocated);
            least = Math.Min(least, allocated);
        }

        output.WriteLine($"{model.EngineName}, {what}: bytes allocated by the process per window of {WindowTokens} tokens: {string.Join(", ", windows)}");
        return least;
    }
}
