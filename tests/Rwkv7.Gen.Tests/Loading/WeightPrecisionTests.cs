using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// Packing keeps matrices in the precision the file stores them: bf16 checkpoints stay bf16 in memory (no silent
/// fp32 copy, which would double the bytes every decoded token reads).
/// </summary>
public sealed class WeightPrecisionTests
{
    [Theory]
    [InlineData(Models.TinyBf16Pth, "tiny", TensorDType.BF16)]
    [InlineData(Models.TinyBf16Safetensors, "tiny", TensorDType.BF16)]
    [InlineData(Models.Mh4Pth, "mh4", TensorDType.BF16)]
    [InlineData(Models.Mh4Safetensors, "mh4", TensorDType.BF16)]
    [InlineData(Models.TinyFp32Pth, "tiny", TensorDType.F32)]
    [InlineData(Models.TinyFp32Bin, "tiny", TensorDType.F32)]
    [InlineData(Models.TinyFp16Bin, "tiny", TensorDType.F16)]
    public void Matrices_keep_the_files_precision(string file, string model, TensorDType type)
    {
        ModelShape shape = model == "tiny" ? FixtureShapes.Tiny : FixtureShapes.Mh4;
        using RwkvWeights weights = RwkvWeights.Load(Fixtures.Path(file));

        Assert.Equal(shape, weights.Shape);
        Assert.Equal(type, weights.MatrixType);
        Assert.Equal(ExpectedMatrixBytes(shape, type), weights.MatrixBytes);
        Assert.Equal(type, weights.Embedding.Type);
        Assert.Equal(type, weights.Head.Type);
        Assert.All(weights.Layers, l =>
        {
            Assert.Equal(type, l.Key.Type);
            Assert.Equal(type, l.DecayDown.Type);
            Assert.Equal(type, l.FfnValue.Type);
        });
    }

    /// <summary>Every matrix at <paramref name="type"/>'s size, each padded to the arena alignment.</summary>
    private static long ExpectedMatrixBytes(ModelShape shape, TensorDType type)
    {
        long total = 0;
        foreach (CanonicalTensor t in CanonicalTensors.For(shape))
        {
            if (t.Role != TensorRole.Vector)
            {
                long bytes = t.ElementCount * type.SizeInBytes();
                total += (bytes + NativeBuffer.Alignment - 1) / NativeBuffer.Alignment * NativeBuffer.Alignment;
            }
        }

        return total;
    }
}
