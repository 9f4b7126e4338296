using ILGPU.Runtime;
using Rwkv7.Gen.Gpu.Tests.Support;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Gpu.Tests;

/// <summary>
/// The cooperative code paths that the GPU profile uses (several lanes per matrix row with shared-memory sums, group
/// reductions for LayerNorm and argmax), run on the CPU accelerator with small groups so that barriers stay affordable.
/// </summary>
[Collection(GpuCollection.Name)]
public sealed class LaunchProfileTests(CpuAcceleratorFixture gpu)
{
    private static readonly GpuLaunchProfile Cooperative = new(RowThreads: 8, MatMulThreads: 16, LanesPerRow: 4, LoraLanesPerRow: 2);

    [Fact]
    public void Cooperative_groups_match_the_goldens_in_decode_and_prefill()
    {
        Goldens goldens = Goldens.Mh4;
        GpuRwkvModel model = gpu.Model(Models.Mh4Pth, new GpuModelOptions { Profile = Cooperative, MaxRows = 8 }, key: "cooperative");
        Assert.Same(Cooperative, model.Profile);
        int v = model.Shape.Vocab;

        using GpuState serial = model.CreateState();
        float[] logits = new float[2 * v];
        model.Forward(goldens.Tokens[0], serial, logits.AsSpan(0, v));
        model.Forward(goldens.Tokens[1], serial, logits.AsSpan(v, v));
        Tolerance.AssertLogitRows(goldens.Logits.AsSpan(0, 2 * v), logits, v, "cooperative serial");

        using GpuState prefill = model.CreateState();
        float[] rows = new float[5 * v];
        model.ForwardAll(goldens.Tokens.AsSpan(0, 5), prefill, rows);
        Tolerance.AssertLogitRows(goldens.Logits.AsSpan(0, 5 * v), rows, v, "cooperative prefill");

        int[] next = new int[1];
        using GpuState greedy = model.CreateState();
        model.DecodeGreedy([goldens.Tokens[0]], greedy, next);
        ReadOnlySpan<float> row0 = goldens.Logits.AsSpan(0, v);
        Assert.Equal(row0.IndexOf(row0.ToArray().Max()), next[0]);
    }

    [Theory]
    [InlineData(3, 16, 1, 1)]
    [InlineData(1, 16, 32, 1)]
    [InlineData(1, 512, 1, 1)]
    public void Invalid_profiles_are_refused(int rowThreads, int matMulThreads, int lanes, int loraLanes)
    {
        var profile = new GpuLaunchProfile(rowThreads, matMulThreads, lanes, loraLanes);
        Assert.Throws<ArgumentOutOfRangeException>(() => profile.Validate(gpu.Accelerator));
    }

    [Fact]
    public void The_cpu_accelerator_gets_the_barrier_free_profile()
    {
        Assert.Equal(AcceleratorType.CPU, gpu.Accelerator.AcceleratorType);
        Assert.Same(GpuLaunchProfile.CpuAccelerator, GpuLaunchProfile.For(gpu.Accelerator));
        Assert.Equal(1, GpuLaunchProfile.CpuAccelerator.LanesPerRow);
        Assert.Equal(1, GpuLaunchProfile.CpuAccelerator.RowThreads);
    }
}
