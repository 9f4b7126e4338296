using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Loading.Support;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// Packing keeps matrices' values as the file stores them: bf16 checkpoints stay bf16 in memory (no silent fp32 copy,
/// which would double the bytes every decoded token reads). fp16 and fp32 matrices whose values bf16 holds exactly
/// (a bf16 checkpoint converted, as rwkv.cpp, GGUF and many Hugging Face files are) become bf16, so that they run on
/// the generated bf16 kernels and, from fp32, read half the bytes; any other fp16 or fp32 matrix keeps its type.
/// </summary>
[Trait(SimdWidth.Trait, SimdWidth.AllWidths)] // vector paths: rerun on every SIMD width (eng/test.sh)
public sealed class WeightPrecisionTests
{
    [Theory]
    [InlineData(Models.TinyBf16Pth, "tiny", TensorDType.BF16, null)]
    [InlineData(Models.TinyBf16Safetensors, "tiny", TensorDType.BF16, null)]
    [InlineData(Models.Mh4Pth, "mh4", TensorDType.BF16, null)]
    [InlineData(Models.Mh4Safetensors, "mh4", TensorDType.BF16, null)]
    [InlineData(Models.TinyFp32Pth, "tiny", TensorDType.BF16, null)]
    [InlineData(Models.TinyFp32Bin, "tiny", TensorDType.BF16, null)]
    [InlineData(Models.TinyF32Safetensors, "tiny", TensorDType.BF16, null)]
    [InlineData(Models.TinyFp32Pth, "tiny", TensorDType.F32, TensorDType.F32)]
    [InlineData(Models.TinyFp32Bin, "tiny", TensorDType.F32, TensorDType.F32)]
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

    [Theory]
    [InlineData(Models.TinyFp16Bin, TensorDType.F16)]
    [InlineData(Models.TinyFp32Bin, TensorDType.F32)]
    [InlineData(Models.TinyFp32Pth, TensorDType.F32)]
    [InlineData(Models.TinyF32Safetensors, TensorDType.F32)]
    public void Matrices_packed_as_bf16_hold_exactly_the_files_values(string file, TensorDType stored)
    {
        using RwkvWeights packed = RwkvWeights.Load(Fixtures.Path(file));
        using RwkvWeights kept = RwkvWeights.Load(Fixtures.Path(file), new WeightLoadOptions { MatrixType = stored });

        Assert.Equal(TensorDType.BF16, packed.MatrixType);
        Assert.Equal(stored, kept.MatrixType);
        AssertSameValues(kept, packed);
    }

    [Fact]
    public void Fp32_matrices_with_a_value_bf16_cannot_hold_stay_fp32()
    {
        // The mh4 model widened to fp32 (exact), with one value of three matrices replaced by 1 + 2⁻²⁰, which fp32
        // holds and bf16 does not: in the first rows of an FFN matrix (the probe that plans the arena finds it), and
        // past the probed rows of a projection and of a LoRA factor (packing finds them and plans the arena again).
        const float inexact = 1f + (1f / (1 << 20));
        var places = new Dictionary<string, int>
        {
            ["blocks.2.ffn.value.weight"] = 9, // row 0 of (256, 1024)
            ["blocks.1.att.key.weight"] = (100 * 256) + 7, // row 100 of (256, 256): 16 rows are probed
            ["blocks.0.att.w1"] = (200 * 32) + 3, // row 200 of (in 256, out 32): 128 rows are probed
        };
        List<SafetensorsItem> items = WidenedToF32(Models.Mh4Safetensors, (name, values) =>
        {
            if (places.TryGetValue(name, out int at))
            {
                values[at] = inexact;
            }
        });

        using var file = new TempFile(TestSafetensors.Write(items), ".safetensors");
        var reports = new RecordingProgress();
        using RwkvWeights weights = RwkvWeights.Load(file.Path, new WeightLoadOptions { Progress = reports });
        using RwkvWeights kept = RwkvWeights.Load(file.Path, new WeightLoadOptions { MatrixType = TensorDType.F32 });

        Assert.Null(weights.MatrixType); // mixed: bf16 and the three fp32 matrices
        Assert.Equal(TensorDType.F32, weights.Layers[2].FfnValue.Type);
        Assert.Equal(TensorDType.F32, weights.Layers[1].Key.Type);
        Assert.Equal(TensorDType.F32, weights.Layers[0].DecayDown.Type);
        Assert.Equal(TensorDType.BF16, weights.Layers[0].Key.Type);
        Assert.Equal(TensorDType.BF16, weights.Layers[1].Value.Type);
        Assert.Equal(TensorDType.BF16, weights.Layers[0].DecayUp.Type);
        Assert.Equal(TensorDType.BF16, weights.Layers[2].FfnKey.Type);
        Assert.Equal(TensorDType.BF16, weights.Embedding.Type);
        Assert.Equal(TensorDType.BF16, weights.Head.Type);
        Assert.Equal(ExpectedMatrixBytes(FixtureShapes.Mh4, TensorDType.BF16, places.Keys.ToHashSet()), weights.MatrixBytes);
        Assert.Equal(inexact, weights.Layers[1].Key.RowF32(100)[7]);
        Assert.Equal(inexact, weights.Layers[0].DecayDown.RowF32(3)[200]); // LoRA factors are packed (out, in)
        AssertSameValues(kept, weights);

        // Planning again restarts the packing; the progress it reports never goes back and ends at 1.
        Assert.NotEmpty(reports.Values);
        Assert.Equal(reports.Values.Order(), reports.Values);
        Assert.Equal(1.0, reports.Values[^1]);
    }

    [Fact]
    public void Fp32_weights_that_bf16_cannot_hold_stay_fp32()
    {
        // As fp32-trained weights are: the lowest mantissa bit set in every value, so every matrix fails the probe.
        List<SafetensorsItem> items = WidenedToF32(Models.Mh4Safetensors, (_, values) =>
        {
            Span<uint> bits = MemoryMarshal.Cast<float, uint>(values.AsSpan());
            for (int i = 0; i < bits.Length; i++)
            {
                bits[i] |= 1;
            }
        });

        using var file = new TempFile(TestSafetensors.Write(items), ".safetensors");
        using RwkvWeights weights = RwkvWeights.Load(file.Path);

        Assert.Equal(TensorDType.F32, weights.MatrixType);
        Assert.Equal(TensorDType.F32, weights.Embedding.Type);
        Assert.Equal(ExpectedMatrixBytes(FixtureShapes.Mh4, TensorDType.F32), weights.MatrixBytes);
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

    /// <summary>
    /// A bf16 checkpoint's tensors as fp32 (exact), each matrix's values first passed to <paramref name="edit"/>
    /// with its canonical name.
    /// </summary>
    private static List<SafetensorsItem> WidenedToF32(string bf16File, Action<string, float[]> edit)
    {
        var items = new List<SafetensorsItem>();
        foreach (SafetensorsItem item in TestSafetensors.ReadAll(Fixtures.Path(bf16File)))
        {
            Assert.Equal("BF16", item.DType);
            float[] values = [.. MemoryMarshal.Cast<byte, ushort>(item.Data).ToArray().Select(b => BitConverter.UInt32BitsToSingle((uint)b << 16))];
            if (item.Shape.Length == 2)
            {
                edit(item.Name, values);
            }

            items.Add(item with { DType = "F32", Data = MemoryMarshal.AsBytes(values.AsSpan()).ToArray() });
        }

        return items;
    }

    /// <summary>Exact equality of every matrix's values in two packings of one model, whatever their element types.</summary>
    private static void AssertSameValues(RwkvWeights expected, RwkvWeights actual)
    {
        AssertSameValues(expected.Embedding, actual.Embedding, "emb.weight");
        AssertSameValues(expected.Head, actual.Head, "head.weight");
        for (int i = 0; i < actual.Layers.Count; i++)
        {
            LayerWeights e = expected.Layers[i], a = actual.Layers[i];
            foreach ((string name, WeightMatrix em, WeightMatrix am) in new[]
            {
                ("att.receptance.weight", e.Receptance, a.Receptance), ("att.key.weight", e.Key, a.Key),
                ("att.value.weight", e.Value, a.Value), ("att.output.weight", e.Output, a.Output),
                ("ffn.key.weight", e.FfnKey, a.FfnKey), ("ffn.value.weight", e.FfnValue, a.FfnValue),
                ("att.w1", e.DecayDown, a.DecayDown), ("att.w2", e.DecayUp, a.DecayUp),
                ("att.a1", e.IclrDown, a.IclrDown), ("att.a2", e.IclrUp, a.IclrUp),
                ("att.v1", e.ValueDown, a.ValueDown), ("att.v2", e.ValueUp, a.ValueUp),
                ("att.g1", e.GateDown, a.GateDown), ("att.g2", e.GateUp, a.GateUp),
            })
            {
                AssertSameValues(em, am, $"blocks.{i}.{name}");
            }
        }
    }

    /// <summary>Keeps every report, on the reporting thread (<see cref="Progress{T}"/> would post them elsewhere).</summary>
    private sealed class RecordingProgress : IProgress<double>
    {
        public List<double> Values { get; } = [];

        public void Report(double value) => Values.Add(value);
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

    /// <summary>
    /// Every matrix at <paramref name="type"/>'s size (those in <paramref name="f32"/> at fp32's), each padded to the
    /// arena alignment.
    /// </summary>
    private static long ExpectedMatrixBytes(ModelShape shape, TensorDType type, IReadOnlySet<string>? f32 = null)
    {
        long total = 0;
        foreach (CanonicalTensor t in CanonicalTensors.For(shape))
        {
            if (t.Role != TensorRole.Vector)
            {
                long bytes = t.ElementCount * (f32?.Contains(t.Name) == true ? TensorDType.F32 : type).SizeInBytes();
                total += (bytes + NativeBuffer.Alignment - 1) / NativeBuffer.Alignment * NativeBuffer.Alignment;
            }
        }

        return total;
    }
}
