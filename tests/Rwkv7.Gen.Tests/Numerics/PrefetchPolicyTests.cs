using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Specialized;
using Rwkv7.Gen.Tests.Generated;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// The processor tuning changes speed only: both prefetch policies compute the same bits in decode, prefill and batches,
/// for every weight type the generated engine runs; a calibration times both and keeps the faster.
/// </summary>
public sealed class PrefetchPolicyTests
{
    [Theory]
    [InlineData(TensorDType.BF16)]
    [InlineData(TensorDType.F32)]
    [InlineData(TensorDType.F16)]
    [InlineData(TensorDType.Q8)]
    [InlineData(TensorDType.Q4)]
    public void Both_prefetch_policies_compute_the_same_bits(TensorDType type)
    {
        ModelShape shape = Mh4Model.DeclaredShape with { Layers = 2 };
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape, type, seed: 17);
        using RwkvModel model = RwkvModel.Create(weights);
        Assert.StartsWith("generated", model.EngineName);
        CpuTuning tuning = model.Tuning!;
        int[] prompt = [.. Enumerable.Range(0, 70).Select(i => (i * 53) % shape.Vocab)];

        float[][] Run(PrefetchHint hint)
        {
            model.Tuning = tuning with { WeightPrefetch = hint };
            Assert.Equal(hint, model.Tuning!.WeightPrefetch);
            int v = shape.Vocab;
            RwkvState state = model.CreateState();
            float[] prefill = new float[prompt.Length * v];
            model.ForwardAll(prompt, state, prefill);
            float[] decode = new float[3 * v];
            for (int i = 0; i < 3; i++)
            {
                model.Forward(prompt[i], state, decode.AsSpan(i * v, v));
            }

            RwkvState[] sessions = [state.Clone(), model.CreateState(), model.CreateState()];
            float[] batch = new float[3 * v];
            model.ForwardBatch([5, 6, 7], sessions, batch);
            return [prefill, decode, batch, state.Data.ToArray(), sessions[1].Data.ToArray()];
        }

        float[][] temporal = Run(PrefetchHint.Temporal);
        float[][] nonTemporal = Run(PrefetchHint.NonTemporal);
        for (int i = 0; i < temporal.Length; i++)
        {
            Assert.Equal(temporal[i], nonTemporal[i]);
        }
    }

    [Fact]
    public void A_calibration_times_both_policies_and_keeps_the_faster()
    {
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(Models.TinyFp32Bin));
        CpuTuning baseline = CpuTuning.Default with { PartsPerThread = 3 };
        CalibrationReport report = TuningCalibration.Run(model, baseline);

        Assert.Equal([PrefetchHint.Temporal, PrefetchHint.NonTemporal], report.Candidates.Select(c => c.Hint));
        Assert.All(report.Candidates, c =>
        {
            Assert.InRange(c.GigabytesPerSecond.Count, TuningCalibration.MinRounds, TuningCalibration.MaxRounds);
            Assert.All(c.GigabytesPerSecond, g => Assert.True(g > 0 && double.IsFinite(g)));
        });
        Assert.Equal(report.Candidates.MaxBy(c => c.Median)!.Hint, report.Chosen.WeightPrefetch);
        Assert.Equal(TuningSource.Calibrated, report.Chosen.Source);
        Assert.Equal(3, report.Chosen.PartsPerThread);
        Assert.StartsWith("calibrated on this model's weights: ", report.Chosen.Origin, StringComparison.Ordinal);

        // The tiny model's 3 MB of matrices are run several times over, so a trial streams at least 16 MiB.
        Assert.True(report.BytesPerTrial >= TuningCalibration.MinTrialBytes, $"{report.BytesPerTrial} bytes per trial");
        Assert.Equal(12 * 6 + 1, report.Matrices);
    }

    [Fact]
    public void A_prompt_calibration_times_both_4_bit_paths_and_keeps_the_longest_block_the_integer_one_wins()
    {
        ModelShape shape = Mh4Model.DeclaredShape with { Layers = 2, Vocab = 4096 };
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape, TensorDType.Q4, seed: 3);
        using RwkvModel model = RwkvModel.Create(weights);
        CpuTuning baseline = CpuTuning.Default with { PartsPerThread = 3, Int16SequenceTokens512 = 7, Int16SequenceTokens256 = 9 };
        PromptCalibrationReport? report = TuningCalibration.CalibratePrompts(model, baseline);
        if (Q4Kernels.StepBlocks == 0)
        {
            // No integer 4-bit products at this width (the 128-bit and scalar reruns): nothing to choose.
            Assert.Null(report);
            return;
        }

        Assert.NotNull(report);
        Assert.Equal(Q4Kernels.StepBlocks * 128, report.VectorBits);

        // Lengths from the longest down, each timed in rounds on both paths, until the integer path wins.
        int[] lengths = [64, 32, 16, 8, 4];
        Assert.Equal(lengths.Take(report.Trials.Count), report.Trials.Select(t => t.Tokens));
        Assert.All(report.Trials, t =>
        {
            Assert.InRange(t.IntegerMilliseconds.Count, TuningCalibration.MinRounds, TuningCalibration.MaxRounds);
            Assert.Equal(t.IntegerMilliseconds.Count, t.WidenedMilliseconds.Count);
            Assert.All(t.IntegerMilliseconds.Concat(t.WidenedMilliseconds), ms => Assert.True(ms > 0 && double.IsFinite(ms)));
        });
        Assert.All(report.Trials.SkipLast(1), t => Assert.True(t.IntegerSpeedup <= 1, $"{t.Tokens} rows: the integer path won, and shorter blocks were still timed"));
        PromptTrial last = report.Trials[^1];
        Assert.Equal(last.IntegerSpeedup > 1 ? last.Tokens : 0, report.Tokens);
        Assert.True(last.IntegerSpeedup > 1 || report.Trials.Count == lengths.Length, "it stopped before the integer path won");

        // Only the width in use gets the threshold; the rest of the baseline is kept, and the path counts as measured.
        CpuTuning chosen = report.Chosen;
        Assert.Equal(report.VectorBits == 512 ? (report.Tokens, 9) : (7, report.Tokens), (chosen.Int16SequenceTokens512, chosen.Int16SequenceTokens256));
        Assert.Equal(3, chosen.PartsPerThread);
        Assert.True(chosen.PromptPathMeasured);
        Assert.False(chosen.WantsPromptCalibration);
        Assert.Equal(TuningSource.Calibrated, chosen.Source);
        Assert.Contains($"4-bit prompts at {report.VectorBits} bits calibrated on this model's weights", chosen.Origin, StringComparison.Ordinal);

        // mh4's FFN matrices are 256 × 1,024 and 1,024 × 256: whole, under the trial's cap.
        Assert.Equal(2L * 256 * 1024, report.Weights);

        // Weights without 4-bit FFN matrices have nothing to calibrate.
        using RwkvWeights bf16 = RwkvWeights.CreateSynthetic(shape, TensorDType.BF16, seed: 3);
        using RwkvModel bf16Model = RwkvModel.Create(bf16);
        Assert.Null(TuningCalibration.CalibratePrompts(bf16Model, baseline));
    }

    [Fact]
    public void The_reference_engine_has_no_tuning()
    {
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(Models.TinyFp32Bin), new RwkvModelOptions { Engine = EngineSelection.Reference });
        Assert.Null(model.Tuning);
        Assert.Throws<NotSupportedException>(() => model.Tuning = CpuTuning.Default);
        Assert.Throws<NotSupportedException>(() => TuningCalibration.Run(model));

        using RwkvModel generated = RwkvModel.Load(Fixtures.Path(Models.TinyFp32Bin));
        Assert.NotNull(generated.Tuning);
        Assert.Throws<ArgumentNullException>(() => generated.Tuning = null);
    }
}
