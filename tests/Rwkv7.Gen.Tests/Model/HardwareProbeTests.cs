using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Benchmarking;
using Rwkv7.Gen.Tests.Generated;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Tests.Model;

/// <summary>
/// The bandwidth probe over a model's own weights (what <c>rwkv7 bench</c> measures its floors with, before and after
/// its timed phases): it streams the packed matrices in place, leaves them as they were, and falls back to a buffer
/// of its own when asked for more bytes than the weights hold.
/// </summary>
public sealed class HardwareProbeTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Bandwidth_over_the_weights_reads_them_in_place(int threads)
    {
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(Mh4Model.DeclaredShape, TensorDType.BF16, seed: 3);
        ushort[] before = weights.Head.AsBF16Span().ToArray();

        double bytesPerSecond = HardwareProbe.MeasureReadBandwidth(threads, weights, weights.MatrixBytes, repetitions: 2);

        Assert.True(double.IsFinite(bytesPerSecond) && bytesPerSecond > 0, $"bandwidth {bytesPerSecond}");
        Assert.Equal(before, weights.Head.AsBF16Span().ToArray());
    }

    [Fact]
    public void More_bytes_than_the_weights_hold_are_probed_with_a_buffer()
    {
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(Mh4Model.DeclaredShape, TensorDType.BF16, seed: 3);

        double bytesPerSecond = HardwareProbe.MeasureReadBandwidth(1, weights, weights.MatrixBytes + (1 << 20), repetitions: 1);

        Assert.True(double.IsFinite(bytesPerSecond) && bytesPerSecond > 0, $"bandwidth {bytesPerSecond}");
    }

    [Fact]
    public void Bad_arguments_are_refused()
    {
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(Mh4Model.DeclaredShape, TensorDType.BF16, seed: 3);

        Assert.Throws<ArgumentOutOfRangeException>(() => HardwareProbe.MeasureReadBandwidth(0, weights, 1 << 20));
        Assert.Throws<ArgumentOutOfRangeException>(() => HardwareProbe.MeasureReadBandwidth(1, weights, 0));
        Assert.Throws<ArgumentNullException>(() => HardwareProbe.MeasureReadBandwidth(1, null!, 1 << 20));
    }
}
