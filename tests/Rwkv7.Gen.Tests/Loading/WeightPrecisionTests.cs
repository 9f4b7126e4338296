using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Loading.Support;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// Packing keeps matrices in the precision the file stores them: bf16 checkpoints stay bf16 in memory (no silent
/// fp32 copy, which would double the bytes every decoded token reads). fp16 matrices whose values bf16 holds exactly
/// (a bf16 checkpoint converted to fp16, as rwkv.cpp and GGUF files are) become bf16, the same bytes, so that they run
/// on the generated bf16 kernels; any other fp16 matrix stays fp16.
/// </summary>
public sealed class WeightPrecisionTests
{
    [Theory]
    [InlineData(Models.TinyBf16Pth, "tiny", TensorDType.BF16, null)]
    [InlineData(Models.TinyBf16Safetensors, "tiny", TensorDType.BF16, null)]
    [InlineData(Models.Mh4Pth, "mh4", TensorDType.BF16, null)]
    [InlineData(Models.Mh4Safetensors, "mh4", TensorDType.BF16, null)]
    [InlineData(Models.TinyFp32Pth, "tiny", TensorDType.F32, null)]
    [InlineData(Models.TinyFp32Bin, "tiny", TensorDType.F32, null)]
    [InlineData(Models.TinyFp16Bin, "tiny", TensorDType.BF16, null)]
    [InlineData(Models.TinyFp16Bin, "tiny", TensorDType.F16, TensorDType.F16)]
    public void Matrices_keep_the_files_precision(string file, string model, TensorDType type, TensorDType? requested)
    {
        ModelShape shape = model == "tiny" ? FixtureShapes.Tiny : FixtureShapes.Mh4;
        using RwkvWeights weights = RwkvWeights.Load(Fixtures.Path(file), new WeightLoadOptions { MatrixType = requested });

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

    [Fact]
    public void Fp16_matrices_packed_as_bf16_hold_exactly_the_files_values()
    {
        using RwkvWeights packed = RwkvWeights.Load(Fixtures.Path(Models.TinyFp16Bin));
        using RwkvWeights kept = RwkvWeights.Load(Fixtures.Path(Models.TinyFp16Bin), new WeightLoadOptions { MatrixType = TensorDType.F16 });

        Assert.Equal(TensorDType.BF16, packed.MatrixType);
        Assert.Equal(TensorDType.F16, kept.MatrixType);
        AssertSameValues(kept.Embedding, packed.Embedding, "emb.weight");
        AssertSameValues(kept.Head, packed.Head, "head.weight");
        for (int i = 0; i < packed.Layers.Count; i++)
        {
            LayerWeights a = kept.Layers[i], b = packed.Layers[i];
            AssertSameValues(a.Key, b.Key, $"blocks.{i}.att.key.weight");
            AssertSameValues(a.FfnValue, b.FfnValue, $"blocks.{i}.ffn.value.weight");
            AssertSameValues(a.DecayDown, b.DecayDown, $"blocks.{i}.att.w1");
            AssertSameValues(a.GateUp, b.GateUp, $"blocks.{i}.att.g2");
        }
    }

    [Fact]
    public void Fp16_matrices_with_a_value_bf16_cannot_hold_stay_fp16()
    {
        // The tiny fp32 model in fp16 (exact: its values are bf16's), with one value of a projection and one of a
        // LoRA factor replaced by 1 + 2⁻¹⁰, which fp16 holds and bf16 (8 significant bits) does not.
        var inexact = (Half)(1f + (1f / 1024));
        var items = new List<SafetensorsItem>();
        foreach (SafetensorsItem item in TestSafetensors.ReadAll(Fixtures.Path(Models.TinyF32Safetensors)))
        {
            if (item.Shape.Length != 2)
            {
                items.Add(item);
                continue;
            }

            Half[] halves = [.. MemoryMarshal.Cast<byte, float>(item.Data).ToArray().Select(f => (Half)f)];
            if (item.Name is "blocks.1.att.key.weight" or "blocks.1.att.w1")
            {
                halves[5] = inexact;
            }

            items.Add(item with { DType = "F16", Data = MemoryMarshal.AsBytes(halves.AsSpan()).ToArray() });
        }

        using var file = new TempFile(TestSafetensors.Write(items), ".safetensors");
        using RwkvWeights weights = RwkvWeights.Load(file.Path);

        Assert.Null(weights.MatrixType); // mixed: bf16 and the two fp16 matrices
        Assert.Equal(TensorDType.F16, weights.Layers[1].Key.Type);
        Assert.Equal(TensorDType.F16, weights.Layers[1].DecayDown.Type);
        Assert.Equal(TensorDType.BF16, weights.Layers[0].Key.Type);
        Assert.Equal(TensorDType.BF16, weights.Layers[1].Value.Type);
        Assert.Equal(TensorDType.BF16, weights.Layers[1].DecayUp.Type);
        Assert.Equal(TensorDType.BF16, weights.Head.Type);
        Assert.Equal(inexact, weights.Layers[1].Key.RowF16(0)[5]);

        // The LoRA factor is stored transposed, (out, in): element 5 of the file's (in, out) row 0 is row 5, column 0.
        Assert.Equal(inexact, weights.Layers[1].DecayDown.RowF16(5)[0]);
    }

    /// <summary>Exact equality of two packed matrices' values, whatever their element types.</summary>
    private static void AssertSameValues(in WeightMatrix expected, in WeightMatrix actual, string name)
    {
        Assert.Equal((expected.Rows, expected.Cols), (actual.Rows, actual.Cols));
        float[] e = new float[expected.Cols], a = new float[actual.Cols];
        for (int r = 0; r < expected.Rows; r++)
        {
            expected.ReadRow(r, e);
            actual.ReadRow(r, a);
            for (int c = 0; c < e.Length; c++)
            {
                if (BitConverter.SingleToUInt32Bits(e[c]) != BitConverter.SingleToUInt32Bits(a[c]))
                {
                    Assert.Fail($"{name}[{r}, {c}]: {a[c]} packed, {e[c]} in the file");
                }
            }
        }
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
