using Rwkv7.Gen.Loading;
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
