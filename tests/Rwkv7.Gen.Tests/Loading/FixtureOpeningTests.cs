using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>Every fixture opens in its format with the canonical tensor names, shapes (PyTorch order) and dtypes.</summary>
public sealed class FixtureOpeningTests
{
    public static TheoryData<string, CheckpointFormat, string> Files() => new()
    {
        { Models.TinyFp32Bin, CheckpointFormat.RwkvCpp, "tiny" },
        { Models.TinyFp16Bin, CheckpointFormat.RwkvCpp, "tiny" },
        { Models.TinyFp32Pth, CheckpointFormat.PyTorch, "tiny" },
        { Models.TinyBf16Pth, CheckpointFormat.PyTorch, "tiny" },
        { Models.TinyF32Safetensors, CheckpointFormat.Safetensors, "tiny" },
        { Models.TinyBf16Safetensors, CheckpointFormat.Safetensors, "tiny" },
        { Models.Mh4Pth, CheckpointFormat.PyTorch, "mh4" },
        { Models.Mh4Safetensors, CheckpointFormat.Safetensors, "mh4" },
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void Opens_with_format_and_canonical_tensors_in_state_dict_order(string file, CheckpointFormat format, string model)
    {
        ModelShape shape = model == "tiny" ? FixtureShapes.Tiny : FixtureShapes.Mh4;
        using Checkpoint checkpoint = Checkpoint.Open(Fixtures.Path(file));

        Assert.Equal(format, checkpoint.Format);
        Assert.Equal(model == "tiny" ? FixtureShapes.TinyTensorCount : FixtureShapes.Mh4TensorCount, checkpoint.Tensors.Count);
        CanonicalTensor[] expected = CanonicalTensors.For(shape).ToArray();
        Assert.Equal(expected.Select(t => t.Name), checkpoint.Tensors.Select(t => t.Name));
        foreach (CanonicalTensor want in expected)
        {
            CheckpointTensor have = checkpoint.Find(want.Name)!;
            Assert.True(want.Shape.SequenceEqual(have.Shape), $"{want.Name}: expected {CheckpointTensor.FormatShape(want.Shape)}, got {have.ShapeText}");
            Assert.Equal(want.ElementCount * have.DType.SizeInBytes(), have.ByteLength);
        }
    }

    [Theory]
    [InlineData(Models.TinyFp32Bin, TensorDType.F32)]
    [InlineData(Models.TinyFp32Pth, TensorDType.F32)]
    [InlineData(Models.TinyF32Safetensors, TensorDType.F32)]
    [InlineData(Models.TinyBf16Pth, TensorDType.BF16)]
    [InlineData(Models.TinyBf16Safetensors, TensorDType.BF16)]
    [InlineData(Models.Mh4Pth, TensorDType.BF16)]
    [InlineData(Models.Mh4Safetensors, TensorDType.BF16)]
    public void Every_tensor_has_the_files_single_dtype(string file, TensorDType dtype)
    {
        using Checkpoint checkpoint = Checkpoint.Open(Fixtures.Path(file));
        Assert.All(checkpoint.Tensors, t => Assert.Equal(dtype, t.DType));
    }

    [Fact]
    public void Fp16_rwkv_cpp_file_has_fp16_matrices_and_fp32_vectors()
    {
        using Checkpoint checkpoint = Checkpoint.Open(Fixtures.Path(Models.TinyFp16Bin));
        int matrices = 0;
        foreach (CanonicalTensor want in CanonicalTensors.For(FixtureShapes.Tiny))
        {
            TensorDType expected = want.Role == TensorRole.Vector ? TensorDType.F32 : TensorDType.F16;
            matrices += want.Role == TensorRole.Vector ? 0 : 1;
            Assert.True(expected == checkpoint.Find(want.Name)!.DType, $"{want.Name} ({want.Role}) should be {expected}");
        }

        // emb, head and per block 6 LoRA (8 with the value LoRA), R/K/V/O and the FFN pair.
        Assert.Equal(2 + (12 * 12) + (11 * 2), matrices);
    }

    [Fact]
    public void Rwkv_cpp_merged_token_shift_is_split_into_six_canonical_vectors()
    {
        using Checkpoint checkpoint = Checkpoint.Open(Fixtures.Path(Models.TinyFp32Bin));
        Assert.Null(checkpoint.Find("blocks.0.att.x_rwkvag"));
        foreach (string m in CanonicalTensors.TimeMixShiftNames)
        {
            CheckpointTensor t = checkpoint.Find($"blocks.5.att.{m}")!;
            Assert.Equal([1, 1, 64], t.Shape);
        }
    }
}
