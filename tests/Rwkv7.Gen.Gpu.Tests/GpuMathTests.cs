using Rwkv7.Gen.Gpu.Kernels;

namespace Rwkv7.Gen.Gpu.Tests;

/// <summary>The device math (plain arithmetic, no libdevice) against double-precision references, on the host.</summary>
public sealed class GpuMathTests
{
    [Fact]
    public void Exp_is_within_a_few_ulp_over_the_whole_normal_range()
    {
        double worst = 0;
        for (double x = -87; x <= 88; x += 0.00731)
        {
            double expected = Math.Exp((float)x);
            double relative = Math.Abs(GpuMath.Exp((float)x) - expected) / expected;
            worst = Math.Max(worst, relative);
        }

        Assert.True(worst < 4e-7, $"worst relative error {worst:E2}");
        Assert.Equal(1f, GpuMath.Exp(0f));
        Assert.True(GpuMath.Exp(-1000f) < 1e-37f && GpuMath.Exp(-1000f) >= 0);
        Assert.True(float.IsFinite(GpuMath.Exp(1000f)));
    }

    [Fact]
    public void Sigmoid_and_tanh_have_small_absolute_error()
    {
        double worstSigmoid = 0, worstTanh = 0;
        for (double x = -30; x <= 30; x += 0.0013)
        {
            worstSigmoid = Math.Max(worstSigmoid, Math.Abs(GpuMath.Sigmoid((float)x) - (1 / (1 + Math.Exp(-(float)x)))));
            worstTanh = Math.Max(worstTanh, Math.Abs(GpuMath.Tanh((float)x) - Math.Tanh((float)x)));
        }

        Assert.True(worstSigmoid < 2e-7, $"sigmoid worst absolute error {worstSigmoid:E2}");
        Assert.True(worstTanh < 3e-7, $"tanh worst absolute error {worstTanh:E2}");
        Assert.Equal(-GpuMath.Tanh(0.3f), GpuMath.Tanh(-0.3f));
    }

    [Fact]
    public void Bf16_pairs_widen_exactly()
    {
        ushort lo = BFloat16Conversions.FromSingle(-1.5f), hi = BFloat16Conversions.FromSingle(3.140625f);
        uint pair = lo | ((uint)hi << 16);
        Assert.Equal(-1.5f, GpuMath.Bf16Low(pair));
        Assert.Equal(3.140625f, GpuMath.Bf16High(pair));
    }
}
