using Rwkv7.Gen.Gpu.Kernels;
using Rwkv7.Gen.Gpu.Tests.Support;
using Rwkv7.Gen.Tests.Generated;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Gpu.Tests;

/// <summary>Generated kernel sets register themselves; the feature switch and missing shapes fail clearly.</summary>
[Collection(GpuCollection.Name)]
public sealed class RegistrationTests(CpuAcceleratorFixture gpu)
{
    [Fact]
    public void Generated_gpu_kernels_register_themselves_next_to_the_cpu_models()
    {
        // Generated because this project references Rwkv7.Gen.Gpu: the nested type exists at compile time.
        Assert.Contains(GpuModelRegistry.Models, m => m == TinyModel.GpuKernels.GpuInfo);
        Assert.Contains(GpuModelRegistry.Models, m => m == Mh4Model.GpuKernels.GpuInfo);
        Assert.Same(Mh4Model.GpuKernels.GpuInfo, GpuModelRegistry.FindFor(Mh4Model.DeclaredShape with { Layers = 9, Vocab = 7 }));
        Assert.Null(GpuModelRegistry.FindFor(Mh4Model.DeclaredShape with { GateRank = 96 }));
        Assert.Equal(Mh4Model.GeneratedTypeName + ".GpuKernels", gpu.Model(Models.Mh4Pth).KernelTypeName);
        Assert.IsType<Mh4Model.GpuKernels>(Mh4Model.GpuKernels.GpuInfo.Create(gpu.Accelerator, GpuWeightFormat.Bf16));
    }

    [Fact]
    public void A_shape_without_gpu_kernels_is_refused_with_a_clear_error()
    {
        var shape = new ModelShape(Layers: 1, Embedding: 128, HeadSize: 64, Vocab: 50, Ffn: 512, DecayRank: 32, IclrRank: 32, ValueRank: 32, GateRank: 32);
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape);
        RwkvException e = Assert.Throws<RwkvException>(() => GpuRwkvModel.Create(weights, gpu.Accelerator));
        Assert.Contains("No GPU kernels", e.Message);
    }

    [Fact]
    public void The_feature_switch_turns_the_gpu_path_off()
    {
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(Mh4Model.DeclaredShape with { Layers = 1 });
        Assert.True(GpuFeature.IsSupported);
        AppContext.SetSwitch(GpuFeature.SwitchName, false);
        try
        {
            Assert.False(GpuFeature.IsSupported);
            NotSupportedException e = Assert.Throws<NotSupportedException>(() => GpuRwkvModel.Create(weights, gpu.Accelerator));
            Assert.Contains(GpuFeature.SwitchName, e.Message);
        }
        finally
        {
            AppContext.SetSwitch(GpuFeature.SwitchName, true);
        }

        Assert.True(GpuFeature.IsSupported);
    }

    [Fact]
    public void Depth_and_vocabulary_are_loop_bounds_and_fp32_synthetic_weights_match_the_reference()
    {
        // Tiny's layer widths with 2 layers and a 1000-token vocabulary, fp32 matrices: the F32 kernels against the
        // reference engine (no goldens exist for synthetic weights).
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(TinyModel.DeclaredShape with { Layers = 2, Vocab = 1000 }, Loading.TensorDType.F32, seed: 5);
        using GpuRwkvModel model = GpuRwkvModel.Create(weights, gpu.Accelerator);
        using RwkvModel reference = RwkvModel.Create(weights, EngineSelection.Reference);
        Assert.Equal(GpuWeightFormat.F32, model.Format);
        int[] tokens = [0, 999, 500, 3];
        float[] expected = new float[tokens.Length * 1000], actual = new float[tokens.Length * 1000];
        reference.ForwardAll(tokens, reference.CreateState(), expected);
        using GpuState state = model.CreateState();
        model.ForwardAll(tokens, state, actual);
        Tolerance.AssertLogitRows(expected, actual, 1000, "synthetic fp32 L2 V1000");
    }

    [Fact]
    public void Arguments_are_checked()
    {
        GpuRwkvModel model = gpu.Model(Models.Mh4Pth);
        using GpuState state = model.CreateState(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(model.Shape.Vocab, state, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(0, state, [], session: 2));
        Assert.Throws<ArgumentException>(() => model.Forward(0, state, new float[3]));
        Assert.Throws<ArgumentException>(() => model.ForwardBatch([1], state, []));
        Assert.Throws<ArgumentException>(() => state.Upload(0, new RwkvState(TinyModel.DeclaredShape)));
    }
}
