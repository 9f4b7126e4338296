using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Loading;

public sealed class SafetensorsWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rwkv7-writer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(Models.TinyFp32Bin, TensorDType.BF16)]
    [InlineData(Models.TinyBf16Pth, TensorDType.F32)]
    [InlineData(Models.Mh4Pth, null)]
    public void Converted_files_hold_the_same_values_in_canonical_order(string file, TensorDType? matrixType)
    {
        string output = Path.Combine(_dir, "out.safetensors");
        using (Checkpoint source = Checkpoint.Open(Fixtures.Path(file)))
        {
            SafetensorsWriter.Write(source, output, matrixType);
        }

        using Checkpoint original = Checkpoint.Open(Fixtures.Path(file));
        using Checkpoint converted = Checkpoint.Open(output);
        Assert.Equal(CheckpointFormat.Safetensors, converted.Format);
        ModelShape shape = Weights.ShapeDetection.DetectAndValidate(converted);
        Assert.Equal(CanonicalTensors.For(shape).Select(t => t.Name), converted.Tensors.Select(t => t.Name));
        Dictionary<string, TensorRole> roles = CanonicalTensors.For(shape).ToDictionary(t => t.Name, t => t.Role);
        foreach (CheckpointTensor t in converted.Tensors)
        {
            CheckpointTensor o = original.Find(t.Name)!;
            Assert.Equal(o.Shape, t.Shape);
            TensorDType expectedType = roles[t.Name] == TensorRole.Vector ? TensorDType.F32 : matrixType ?? o.DType;
            Assert.Equal(expectedType, t.DType);
            // Every fixture value is bf16-exact, so any conversion among fp32/bf16 preserves it exactly.
            Assert.Equal(AsFloats(o), AsFloats(t));
        }
    }

    [Fact]
    public void A_converted_checkpoint_still_matches_the_goldens()
    {
        string output = Path.Combine(_dir, "mh4.safetensors");
        using (Checkpoint source = Checkpoint.Open(Fixtures.Path(Models.Mh4Pth)))
        {
            SafetensorsWriter.Write(source, output, TensorDType.F32);
        }

        using (Checkpoint written = Checkpoint.Open(output))
        {
            Assert.Equal(TensorDType.F32, written.Find("blocks.1.att.key.weight")!.DType);
        }

        // The fp32 file holds mh4's bf16 values, which loading packs back into bf16 (WeightPrecisionTests).
        using RwkvModel model = RwkvModel.Load(output);
        Assert.Equal(TensorDType.BF16, model.Weights.MatrixType);
        float[] logits = new float[Goldens.Mh4.Tokens.Length * model.Shape.Vocab];
        model.ForwardAll(Goldens.Mh4.Tokens, model.CreateState(), logits);
        Tolerance.AssertLogitRows(Goldens.Mh4.Logits, logits, model.Shape.Vocab, "converted mh4");
    }

    [Fact]
    public void A_failed_write_leaves_neither_a_partial_file_nor_a_temporary_one()
    {
        string output = Path.Combine(_dir, "missing-folder", "out.safetensors");
        using Checkpoint source = Checkpoint.Open(Fixtures.Path(Models.TinyFp32Bin));
        IOException e = Assert.ThrowsAny<IOException>(() => SafetensorsWriter.Write(source, output));
        Assert.Contains($"Cannot write {output}: the directory", e.Message, StringComparison.Ordinal); // the target, not a temporary name
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.EnumerateFiles(_dir, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void An_existing_output_is_replaced_whole()
    {
        string output = Path.Combine(_dir, "out.safetensors");
        File.WriteAllText(output, "old content");
        using (Checkpoint source = Checkpoint.Open(Fixtures.Path(Models.TinyFp32Bin)))
        {
            SafetensorsWriter.Write(source, output, TensorDType.BF16);
        }

        using RwkvModel model = RwkvModel.Load(output);
        Assert.Equal(TensorDType.BF16, model.Weights.MatrixType);
        Assert.Single(Directory.EnumerateFiles(_dir));
    }

    private static float[] AsFloats(CheckpointTensor t)
    {
        byte[] raw = new byte[t.ByteLength];
        t.ReadTo(raw);
        float[] values = new float[t.ElementCount];
        SafetensorsWriter.ConvertElements(raw, t.DType, MemoryMarshal.AsBytes(values.AsSpan()), TensorDType.F32);
        return values;
    }
}
