using Rwkv7.Gen.Benchmarking;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Specialized;
using Rwkv7.Gen.Tests.Generated;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// Properties of the generated engine's orchestration: batch decode, thread counts and allocation behaviour must
/// not change what is computed.
/// </summary>
public sealed class GeneratedEngineBehaviourTests
{
    /// <summary>Threads of the private pool the thread-split tests run on, whatever the machine's core count.</summary>
    private const int ManyThreads = 4;

    [Fact]
    public void Batch_decode_gives_each_session_what_it_would_get_alone()
    {
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(Models.Mh4Safetensors));
        Assert.StartsWith("generated", model.EngineName);
        int[] tokens = Goldens.Mh4.Tokens;

        // Five sessions with different histories, stepped together and one by one.
        AssertBatchMatchesAlone(
            model,
            sessions: 5,
            steps: 4,
            history: b => tokens[..(3 + (4 * b))],
            next: (b, step) => tokens[(b * 3) + step]);
    }

    [Fact]
    public void Batch_sessions_split_across_threads_keep_their_own_states()
    {
        // Twenty heads and six sessions: enough per-head work for the heads step to split the batch by sessions, on a
        // pool of 4 threads whatever the machine's core count. Each session has its own history, so a part that read or
        // wrote another session's state would change its logits or its state.
        ModelShape shape = LongRowsModel.DeclaredShape;
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape, TensorDType.BF16, seed: 5);
        using var pool = new WorkerPool(ManyThreads);
        using RwkvModel model = RwkvModel.Create(weights);
        Assert.StartsWith("generated", model.EngineName);
        ((SpecializedModel<LongRowsModel.Kernels>)model).UseWorkerPool(pool);
        Assert.Equal(ManyThreads, model.Threads);
        int v = shape.Vocab;
        AssertBatchMatchesAlone(
            model,
            sessions: 6,
            steps: 3,
            history: b => [.. Enumerable.Range(0, 2 + b).Select(i => ((i + 1) * (b + 3) * 17) % v)],
            next: (b, step) => ((b * 7) + (step * 11) + 1) % v);
    }

    /// <summary>
    /// Gives each session its history, then steps all of them together and a copy of each alone for
    /// <paramref name="steps"/> tokens: logits and final states must agree. Several rows go through the multi-token
    /// product tiles, which sum in another order than the one-token path, so the bound is fp32 rounding, like
    /// generated vs reference (1e-5).
    /// </summary>
    private static void AssertBatchMatchesAlone(RwkvModel model, int sessions, int steps, Func<int, int[]> history, Func<int, int, int> next)
    {
        int v = model.Shape.Vocab;
        var batchStates = new RwkvState[sessions];
        var aloneStates = new RwkvState[sessions];
        for (int b = 0; b < sessions; b++)
        {
            batchStates[b] = model.CreateState();
            model.Forward(history(b), batchStates[b], []);
            aloneStates[b] = batchStates[b].Clone();
        }

        float[] batch = new float[sessions * v];
        float[] alone = new float[sessions * v];
        for (int step = 0; step < steps; step++)
        {
            int[] tokens = [.. Enumerable.Range(0, sessions).Select(b => next(b, step))];
            model.ForwardBatch(tokens, batchStates, batch);
            for (int b = 0; b < sessions; b++)
            {
                model.Forward(tokens[b], aloneStates[b], alone.AsSpan(b * v, v));
            }

            Tolerance.AssertLogitRows(alone, batch, v, $"batch step {step}", relative: 1e-5);
        }

        for (int b = 0; b < sessions; b++)
        {
            Tolerance.AssertState(aloneStates[b].Data, batchStates[b].Data, $"session {b} state", relative: 1e-5);
        }
    }

    [Fact]
    public void A_batch_larger_than_one_block_and_the_reference_batch_agree()
    {
        ModelShape shape = Mh4Model.DeclaredShape with { Layers = 2 };
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape, TensorDType.BF16, seed: 3);
        using RwkvModel generated = RwkvModel.Create(weights);
        using RwkvModel reference = RwkvModel.Create(weights, EngineSelection.Reference);
        int sessions = Specialized.SpecializedModel<Mh4Model.Kernels>.BlockTokens + 3;
        int[] tokens = Enumerable.Range(0, sessions).Select(i => (i * 37) % shape.Vocab).ToArray();
        RwkvState[] g = Enumerable.Range(0, sessions).Select(_ => generated.CreateState()).ToArray();
        RwkvState[] r = Enumerable.Range(0, sessions).Select(_ => reference.CreateState()).ToArray();
        float[] gl = new float[sessions * shape.Vocab];
        float[] rl = new float[sessions * shape.Vocab];
        generated.ForwardBatch(tokens, g, gl);
        reference.ForwardBatch(tokens, r, rl);
        Tolerance.AssertLogitRows(rl, gl, shape.Vocab, "generated vs reference batch", relative: 1e-4);
    }

    [Fact]
    public void Batch_arguments_are_validated()
    {
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(Models.Mh4Safetensors));
        RwkvState s = model.CreateState();
        Assert.Throws<ArgumentException>(() => model.ForwardBatch([1, 2], [s, s], new float[2 * model.Shape.Vocab]));
        Assert.Throws<ArgumentException>(() => model.ForwardBatch([1, 2], [s], new float[2 * model.Shape.Vocab]));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.ForwardBatch([model.Shape.Vocab], [s], new float[model.Shape.Vocab]));
    }

    [Fact]
    public void Four_bit_products_have_their_inputs_rounded_once_per_step()
    {
        // r, k and v share one rounding step, then the output, FFN key and FFN value products one each, and the head.
        ModelShape shape = Mh4Model.DeclaredShape with { Layers = 2, Vocab = 4096 };
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape, TensorDType.Q4, seed: 5);
        using RwkvModel model = RwkvModel.Create(weights);
        var timings = new StepTimings();
        model.StepTimings = timings;
        float[] logits = new float[shape.Vocab];
        RwkvState state = model.CreateState();
        model.Forward(1, state, logits);
        Assert.Equal((4 * shape.Layers) + 1, timings.Steps.Single(s => s.Step == ModelStep.InputRounding).Calls);

        // A prompt's rows are rounded as one token's where the width has the 4-bit integer products for sequences;
        // without them the prompt's products take fp32 inputs and only its one head row is rounded.
        timings.Reset();
        model.Forward([2, 3, 4, 5, 6], state, logits);
        bool sequences = Products<Mh4Model.Kernels>.Int16SequenceTokens(model.Tuning!) >= 5;
        Assert.Equal(sequences ? (4 * shape.Layers) + 1 : 1, timings.Steps.Single(s => s.Step == ModelStep.InputRounding).Calls);
    }

    [Theory]
    [InlineData(TensorDType.BF16)]
    [InlineData(TensorDType.F32)]
    [InlineData(TensorDType.Q8)]
    [InlineData(TensorDType.Q4)]
    public void One_thread_and_many_threads_compute_the_same(TensorDType type)
    {
        // Wide enough that every parallel step really splits (mh4 widths, 64 tokens of prefill; for 4-bit weights the
        // rounding of the products' inputs too), on a pool of 4 threads even where the machine has one core: the parts
        // then take turns, which proves the split exact just as well.
        ModelShape shape = Mh4Model.DeclaredShape with { Layers = 2, Vocab = 4096 };
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape, type, seed: 11);
        using var pool = new WorkerPool(ManyThreads);
        using RwkvModel model = RwkvModel.Create(weights);
        ((SpecializedModel<Mh4Model.Kernels>)model).UseWorkerPool(pool);
        int[] tokens = Enumerable.Range(0, 64).Select(i => (i * 101) % shape.Vocab).ToArray();

        model.Threads = 1;
        Assert.Equal(1, model.Threads);
        float[] one = new float[tokens.Length * shape.Vocab];
        RwkvState oneState = model.CreateState();
        model.ForwardAll(tokens, oneState, one);

        model.Threads = ManyThreads;
        Assert.Equal(ManyThreads, model.Threads);
        float[] many = new float[tokens.Length * shape.Vocab];
        RwkvState manyState = model.CreateState();
        model.ForwardAll(tokens, manyState, many);

        Tolerance.AssertLogitRows(one, many, shape.Vocab, $"{type} threads 1 vs {model.Threads}", relative: 1e-6);
        Tolerance.AssertState(oneState.Data, manyState.Data, $"{type} state, threads 1 vs {model.Threads}", relative: 1e-6);
    }

    [Fact]
    public void Step_timings_count_every_step_of_every_layer_and_the_weights_each_read()
    {
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(Models.Mh4Pth));
        Assert.StartsWith("generated", model.EngineName);
        RwkvWeights w = model.Weights;
        int layers = model.Shape.Layers;
        var timings = new StepTimings();
        model.StepTimings = timings;

        // One decoded token, then a prefill of 5 tokens (one block): each step runs once per layer per pass.
        RwkvState state = model.CreateState();
        float[] logits = new float[model.Shape.Vocab];
        var wall = System.Diagnostics.Stopwatch.StartNew();
        model.Forward(1, state, logits);
        model.Forward([2, 3, 4, 5, 6], state, logits);
        wall.Stop();

        Dictionary<ModelStep, StepTiming> steps = timings.Steps.ToDictionary(s => s.Step);
        Assert.Equal(Enum.GetValues<ModelStep>().Length, steps.Count);
        Assert.Equal(2 * 2 * layers, steps[ModelStep.LayerNorm].Calls); // ln1 and ln2, two passes
        foreach (ModelStep perLayer in new[] { ModelStep.TimeMixInputs, ModelStep.ChannelMixInputs, ModelStep.Heads, ModelStep.Projections, ModelStep.Output, ModelStep.FfnKey, ModelStep.FfnValue })
        {
            Assert.Equal(2 * layers, steps[perLayer].Calls);
        }

        Assert.Equal(2, steps[ModelStep.Head].Calls);
        Assert.Equal(2 * w.Head.ByteLength, steps[ModelStep.Head].WeightBytes);
        Assert.Equal(2 * w.Layers.Sum(l => l.Output.ByteLength), steps[ModelStep.Output].WeightBytes);
        Assert.Equal(2 * w.Layers.Sum(l => l.FfnKey.ByteLength), steps[ModelStep.FfnKey].WeightBytes);
        Assert.Equal(0, steps[ModelStep.Heads].WeightBytes);
        long projections = w.Layers.Sum(l => l.Receptance.ByteLength + l.Key.ByteLength + l.Value.ByteLength
            + l.DecayDown.ByteLength + l.DecayUp.ByteLength + l.IclrDown.ByteLength + l.IclrUp.ByteLength
            + l.GateDown.ByteLength + l.GateUp.ByteLength + l.ValueDown.ByteLength + l.ValueUp.ByteLength);
        Assert.Equal(2 * projections, steps[ModelStep.Projections].WeightBytes);
        Assert.Equal(0, steps[ModelStep.InputRounding].Calls); // bf16 products read fp32 inputs
        Assert.All(steps.Values.Where(s => s.Step != ModelStep.InputRounding), s => Assert.True(s.Elapsed > TimeSpan.Zero, $"{s.Step} recorded no time"));
        Assert.True(timings.Total <= wall.Elapsed, $"steps {timings.Total} took longer than the calls {wall.Elapsed}");

        timings.Reset();
        Assert.All(timings.Steps, s => Assert.Equal(0, s.Calls));
        Assert.Equal(TimeSpan.Zero, timings.Total);

        model.StepTimings = null;
        model.Forward(7, state, logits);
        Assert.All(timings.Steps, s => Assert.Equal(0, s.Calls));
    }

    [Fact]
    public void The_reference_engine_records_no_step_timings()
    {
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(Models.Mh4Pth), new RwkvModelOptions { Engine = EngineSelection.Reference });
        var timings = new StepTimings();
        model.StepTimings = timings;
        model.Forward(1, model.CreateState(), new float[model.Shape.Vocab]);
        Assert.All(timings.Steps, s => Assert.Equal(0, s.Calls));
    }
}
