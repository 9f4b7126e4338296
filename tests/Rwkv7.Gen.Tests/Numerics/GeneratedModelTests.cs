using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Generated;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// Differential tests of the generated models (tests/Rwkv7.Gen.Tests/Shapes/*.rwkv7): they must match the float64
/// goldens within the runtime core's tolerance, and the reference engine within 1e-5 relative.
/// </summary>
public sealed class GeneratedModelTests
{
    /// <summary>Generated vs reference: max |Δ| ≤ 1e-5 × the reference row's (or state's) max |value|.</summary>
    private const double RelativeToReference = 1e-5;

    public static TheoryData<string> ModelFiles() => [.. Models.TinyFiles, .. Models.Mh4Files];

    /// <summary>
    /// Every fixture file as loaded by default, and two asked for in fp32. By default every fixture's matrices are
    /// packed as bf16 (their values are bf16's, even in the fp32 and fp16 files: WeightPrecisionTests), so the fp32
    /// kernels are reached only on request; bf16 converts to fp32 exactly, so the goldens hold for both. The fp16
    /// fallback product has its own test below.
    /// </summary>
    public static TheoryData<string, string> ModelFilesAndPrecisions()
    {
        var data = new TheoryData<string, string>();
        foreach (string file in (string[])[.. Models.TinyFiles, .. Models.Mh4Files])
        {
            data.Add(file, "keep");
        }

        data.Add(Models.TinyF32Safetensors, "fp32");
        data.Add(Models.Mh4Safetensors, "fp32");
        return data;
    }

    private static WeightLoadOptions Precision(string precision) =>
        new() { MatrixType = precision == "fp32" ? TensorDType.F32 : null };

    [Theory]
    [MemberData(nameof(ModelFiles))]
    public void Checkpoints_with_a_generated_shape_run_on_the_generated_model(string file)
    {
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(file));
        string expectedType = Models.IsMh4(file) ? Mh4Model.GeneratedTypeName : TinyModel.GeneratedTypeName;
        Assert.Equal("generated " + expectedType, model.EngineName);
    }

    [Theory]
    [MemberData(nameof(ModelFilesAndPrecisions))]
    public void Serial_logits_and_state_match_goldens_and_reference(string file, string precision)
    {
        using RwkvWeights weights = RwkvWeights.Load(Fixtures.Path(file), Precision(precision));
        Assert.Equal(precision == "fp32" ? TensorDType.F32 : TensorDType.BF16, weights.MatrixType);
        using RwkvModel generated = RwkvModel.Create(weights, EngineSelection.Generated);
        using RwkvModel reference = RwkvModel.Create(weights, EngineSelection.Reference);
        AssertSerialMatchesGoldensAndReference(generated, reference, Goldens.For(file), $"{file} ({precision})");
    }

    /// <summary>The goldens' tokens one at a time: generated logits and state against the goldens and the reference.</summary>
    internal static void AssertSerialMatchesGoldensAndReference(RwkvModel generated, RwkvModel reference, Goldens goldens, string what)
    {
        int v = generated.Shape.Vocab;
        float[] gen = new float[goldens.Tokens.Length * v];
        float[] refLogits = new float[goldens.Tokens.Length * v];
        RwkvState genState = generated.CreateState();
        RwkvState refState = reference.CreateState();
        for (int t = 0; t < goldens.Tokens.Length; t++)
        {
            generated.Forward(goldens.Tokens[t], genState, gen.AsSpan(t * v, v));
            reference.Forward(goldens.Tokens[t], refState, refLogits.AsSpan(t * v, v));
        }

        Tolerance.AssertLogitRows(goldens.Logits, gen, v, $"{what} generated serial");
        goldens.AssertFinalState(genState, $"{what} generated serial");
        AssertCloseToReference(refLogits, gen, v, $"{what} generated vs reference");
        Tolerance.AssertState(refState.Data, genState.Data, $"{what} generated vs reference state", RelativeToReference);
    }

    [Theory]
    [MemberData(nameof(ModelFilesAndPrecisions))]
    public void Sequence_mode_matches_goldens_and_serial_mode(string file, string precision)
    {
        Goldens goldens = Goldens.For(file);
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(file), new RwkvModelOptions { Engine = EngineSelection.Generated, Weights = Precision(precision) });
        string what = $"{file} ({precision})";
        int v = model.Shape.Vocab;

        RwkvState sequenceState = model.CreateState();
        float[] sequence = new float[goldens.Tokens.Length * v];
        model.ForwardAll(goldens.Tokens, sequenceState, sequence);
        Tolerance.AssertLogitRows(goldens.Logits, sequence, v, $"{what} generated sequence");
        goldens.AssertFinalState(sequenceState, $"{what} generated sequence");

        RwkvState serialState = model.CreateState();
        float[] serial = new float[goldens.Tokens.Length * v];
        for (int t = 0; t < goldens.Tokens.Length; t++)
        {
            model.Forward(goldens.Tokens[t], serialState, serial.AsSpan(t * v, v));
        }

        Tolerance.AssertLogitRows(serial, sequence, v, $"{what} generated serial vs sequence");
        Tolerance.AssertState(serialState.Data, sequenceState.Data, $"{what} generated serial vs sequence state");

        // Last-row-only output over a sequence longer than one block of the orchestrator.
        RwkvState longState = model.CreateState();
        int[] longTokens = [.. goldens.Tokens, .. goldens.Tokens, .. goldens.Tokens];
        Assert.True(longTokens.Length > Specialized.SpecializedModel<TinyModel.Kernels>.BlockTokens);
        float[] last = new float[v];
        model.Forward(longTokens, longState, last);
        RwkvState stepState = model.CreateState();
        float[] stepLogits = new float[v];
        foreach (int token in longTokens)
        {
            model.Forward(token, stepState, stepLogits);
        }

        Tolerance.AssertLogitRows(stepLogits, last, v, $"{what} generated {longTokens.Length}-token prefill vs serial");
    }

    [Theory]
    [InlineData(2, 1000)]
    [InlineData(1, 256)]
    [InlineData(5, 77)]
    public void Depth_and_vocabulary_are_loop_bounds_not_specialized(int layers, int vocab)
    {
        // Tiny's layer widths with another depth and vocabulary (a pruned or fine-tuned model) still run generated.
        ModelShape shape = TinyModel.DeclaredShape with { Layers = layers, Vocab = vocab };
        foreach (TensorDType type in new[] { TensorDType.BF16, TensorDType.F32 })
        {
            using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape, type, seed: 7);
            using RwkvModel generated = RwkvModel.Create(weights);
            using RwkvModel reference = RwkvModel.Create(weights, EngineSelection.Reference);
            Assert.Equal("generated " + TinyModel.GeneratedTypeName, generated.EngineName);

            AssertPrefillMatchesReference(generated, reference, [0, 1, vocab - 1, vocab / 2, 3 % vocab], $"synthetic {type} L{layers} V{vocab}");
        }
    }

    [Theory]
    [InlineData(TensorDType.BF16)]
    [InlineData(TensorDType.F32)]
    [InlineData(TensorDType.Q8)]
    public void Long_rows_worked_in_input_blocks_match_the_reference(TensorDType type)
    {
        // Rows of 1,280 and 2,048 inputs: multi-token tiles sum them block by block (see the generated comment "inputs
        // in N blocks"), writing the first block's sums (or adding them, for the products that add to x) and adding
        // the rest. A prefill and a batch of sessions go through those tiles (4 tokens at a time, the rest one by one).
        ModelShape shape = LongRowsModel.DeclaredShape;
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape, type, seed: 11);
        using RwkvModel generated = RwkvModel.Create(weights);
        using RwkvModel reference = RwkvModel.Create(weights, EngineSelection.Reference);
        Assert.Equal("generated " + LongRowsModel.GeneratedTypeName, generated.EngineName);

        int v = shape.Vocab;
        int[] tokens = Enumerable.Range(0, 14).Select(i => (i * 37) % v).ToArray();
        AssertPrefillMatchesReference(generated, reference, tokens, $"long rows {type}, prefill of {tokens.Length}");

        RwkvState[] genStates = [.. Enumerable.Range(0, 6).Select(_ => generated.CreateState())];
        RwkvState[] refStates = [.. Enumerable.Range(0, 6).Select(_ => reference.CreateState())];
        float[] genBatch = new float[6 * v];
        float[] refBatch = new float[6 * v];
        generated.ForwardBatch(tokens.AsSpan(0, 6), genStates, genBatch);
        reference.ForwardBatch(tokens.AsSpan(0, 6), refStates, refBatch);
        AssertCloseToReference(refBatch, genBatch, v, $"long rows {type}, batch of 6");
    }

    [Theory]
    [InlineData(TensorDType.BF16)]
    [InlineData(TensorDType.F32)]
    [InlineData(TensorDType.Q8)]
    public void A_model_generated_for_some_weight_types_runs_the_others_on_the_width_generic_kernels(TensorDType type)
    {
        // bf16only.rwkv7 says 'weights = bf16': its fp32 and 8-bit products (one token, 16-bit inputs for 8-bit, and
        // several tokens) take KernelFallbacks, which must give the same numbers as the reference engine.
        ModelShape shape = Bf16OnlyModel.DeclaredShape;
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape, type, seed: 12);
        using RwkvModel generated = RwkvModel.Create(weights);
        using RwkvModel reference = RwkvModel.Create(weights, EngineSelection.Reference);
        Assert.Equal("generated " + Bf16OnlyModel.GeneratedTypeName, generated.EngineName);

        int v = shape.Vocab;
        int[] tokens = Enumerable.Range(0, 9).Select(i => (i * 41) % v).ToArray();
        AssertPrefillMatchesReference(generated, reference, tokens, $"bf16-only model, {type} weights, prefill of {tokens.Length}");

        RwkvState genState = generated.CreateState(), refState = reference.CreateState();
        float[] genStep = new float[v], refStep = new float[v];
        foreach (int token in tokens)
        {
            generated.Forward(token, genState, genStep);
            reference.Forward(token, refState, refStep);
        }

        // One token at a time, 8-bit products round their inputs to 16 bits (QuantizedWeightsTests' decode tolerance).
        AssertCloseToReference(refStep, genStep, v, $"bf16-only model, {type} weights, decode", type == TensorDType.Q8 ? 1e-3 : null);
    }

    [Fact]
    public void Fp16_matrices_run_on_the_width_generic_product_and_match_goldens_and_reference()
    {
        // Kept fp16 on request (by default these values would be packed as bf16): generated models have no fp16
        // kernels. One token's products take KernelFallbacks (rows widened in registers); a sequence's large products
        // widen rows into a buffer for the generated fp32 tiles, and its LoRA products take KernelFallbacks' tiles.
        string file = Models.TinyFp16Bin;
        Goldens goldens = Goldens.For(file);
        using RwkvWeights weights = RwkvWeights.Load(Fixtures.Path(file), new WeightLoadOptions { MatrixType = TensorDType.F16 });
        Assert.Equal(TensorDType.F16, weights.MatrixType);
        using RwkvModel generated = RwkvModel.Create(weights, EngineSelection.Generated);
        using RwkvModel reference = RwkvModel.Create(weights, EngineSelection.Reference);
        Assert.Equal("generated " + TinyModel.GeneratedTypeName, generated.EngineName);

        AssertSerialMatchesGoldensAndReference(generated, reference, goldens, "fp16 kept,");
        AssertPrefillMatchesReference(generated, reference, goldens.Tokens, "fp16 kept, prefill");
    }

    [Fact]
    public void Generated_models_register_themselves_without_reflection()
    {
        Assert.Contains(GeneratedModelRegistry.Models, m => m.TypeName == TinyModel.GeneratedTypeName);
        Assert.Contains(GeneratedModelRegistry.Models, m => m.TypeName == Mh4Model.GeneratedTypeName);
        Assert.Same(Mh4Model.Info, GeneratedModelRegistry.FindFor(Mh4Model.DeclaredShape with { Layers = 7, Vocab = 3 }));
        Assert.Null(GeneratedModelRegistry.FindFor(Mh4Model.DeclaredShape with { Ffn = 2048 }));
        Assert.Same(TinyModel.Info, GeneratedModelRegistry.FindByName("TINY-7v0-834k"));
    }

    [Fact]
    public void A_shape_without_generated_model_runs_on_the_reference_engine_and_generated_is_refused()
    {
        ModelShape shape = new(Layers: 1, Embedding: 128, HeadSize: 64, Vocab: 50, Ffn: 512, DecayRank: 32, IclrRank: 32, ValueRank: 32, GateRank: 32);
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape);
        using RwkvModel model = RwkvModel.Create(weights);
        Assert.Equal("reference", model.EngineName);
        RwkvException e = Assert.Throws<RwkvException>(() => RwkvModel.Create(weights, EngineSelection.Generated));
        Assert.Contains("No generated model", e.Message);
    }

    /// <summary>Every token's logits of one prefill from the zero state, generated against reference.</summary>
    internal static void AssertPrefillMatchesReference(RwkvModel generated, RwkvModel reference, int[] tokens, string what)
    {
        int v = generated.Shape.Vocab;
        float[] gen = new float[tokens.Length * v];
        float[] refLogits = new float[tokens.Length * v];
        generated.ForwardAll(tokens, generated.CreateState(), gen);
        reference.ForwardAll(tokens, reference.CreateState(), refLogits);
        AssertCloseToReference(refLogits, gen, v, what);
    }

    internal static void AssertCloseToReference(ReadOnlySpan<float> reference, ReadOnlySpan<float> actual, int vocab, string what, double? relative = null)
    {
        double tolerance = relative ?? RelativeToReference;
        for (int row = 0; row * vocab < reference.Length; row++)
        {
            ReadOnlySpan<float> e = reference.Slice(row * vocab, vocab);
            double scale = 0;
            foreach (float x in e)
            {
                scale = Math.Max(scale, Math.Abs(x));
            }

            double max = Tolerance.MaxAbsDiff(e, actual.Slice(row * vocab, vocab), out int at);
            Assert.True(
                max <= tolerance * scale,
                $"{what}: row {row} max |Δ| = {max:E3} at {at} exceeds {tolerance:E0} × max |logit| {scale:E3}");
        }
    }
}
