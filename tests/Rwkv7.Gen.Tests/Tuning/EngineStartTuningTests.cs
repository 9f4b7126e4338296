using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Specialized;
using Rwkv7.Gen.Tests.Generated;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Tests.Tuning;

/// <summary>
/// What an engine does with the process's tuning when it starts. These tests set <see cref="TuningCalibration.ProcessTuning"/>,
/// which every engine started meanwhile would read: they run alone, after the parallel tests.
/// </summary>
[Collection(ProcessWideMeasurements.Name)]
public sealed class EngineStartTuningTests
{
    [Fact]
    public void A_4_bit_engine_calibrates_a_prompt_path_nobody_measured_once_a_process()
    {
        CpuTuning? before = TuningCalibration.ProcessTuning;
        try
        {
            // A tuning as a Xeon's table entry or an old tuning file gives it: the 4-bit prompt path not measured.
            CpuTuning unmeasured = CpuTuning.Default with { Source = TuningSource.Configured, Origin = "test", Int16SequenceTokens512 = 5, Int16SequenceTokens256 = 5 };
            TuningCalibration.ProcessTuning = unmeasured;
            ModelShape shape = Mh4Model.DeclaredShape with { Layers = 2, Vocab = 4096 };

            // bf16 weights have no prompt path to choose: the engine starts with the process's tuning as it is.
            using (RwkvWeights bf16 = RwkvWeights.CreateSynthetic(shape, TensorDType.BF16, seed: 2))
            using (RwkvModel model = RwkvModel.Create(bf16))
            {
                Assert.Same(unmeasured, model.Tuning);
                Assert.Same(unmeasured, TuningCalibration.ProcessTuning);
            }

            using RwkvWeights q4 = RwkvWeights.CreateSynthetic(shape, TensorDType.Q4, seed: 2);
            using RwkvModel first = RwkvModel.Create(q4);
            if (!unmeasured.WantsPromptCalibration || Q4Kernels.StepBlocks == 0)
            {
                // RWKV7_CALIBRATE=0, not x86, or no integer 4-bit products at this width: nothing is timed.
                Assert.Same(unmeasured, first.Tuning);
                return;
            }

            CpuTuning calibrated = first.Tuning!;
            Assert.True(calibrated.PromptPathMeasured);
            Assert.Equal(TuningSource.Calibrated, calibrated.Source);
            Assert.StartsWith("test; 4-bit prompts at ", calibrated.Origin, StringComparison.Ordinal);
            Assert.Equal(5, Q4Kernels.StepBlocks == 4 ? calibrated.Int16SequenceTokens256 : calibrated.Int16SequenceTokens512);
            Assert.Contains(Q4Kernels.StepBlocks == 4 ? calibrated.Int16SequenceTokens512 : calibrated.Int16SequenceTokens256, new[] { 0, 4, 8, 16, 32, 64 });

            // The result is the process's now: the next engine starts with it and times nothing.
            Assert.Same(calibrated, TuningCalibration.ProcessTuning);
            using RwkvModel second = RwkvModel.Create(q4);
            Assert.Same(calibrated, second.Tuning);
        }
        finally
        {
            TuningCalibration.ProcessTuning = before;
        }
    }
}
