using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;
using static Rwkv7.Gen.Tests.Infrastructure.CheckpointComparison;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// The same model in every container gives bit-identical canonical tensors once widened to float32: this is what
/// shows the rwkv.cpp reader undoes the converter (dim reversal, x_rwkvag split, LoRA transposes) exactly.
/// </summary>
public sealed class CrossFormatEquivalenceTests
{
    public static TheoryData<string> TinyExactCopies() =>
        [Models.TinyFp32Bin, Models.TinyFp32Pth, Models.TinyBf16Pth, Models.TinyBf16Safetensors];

    [Theory]
    [MemberData(nameof(TinyExactCopies))]
    public void Tiny_file_matches_the_F32_safetensors_bit_for_bit(string file)
    {
        AssertSameValues(Models.TinyF32Safetensors, file, roundToHalf: _ => false);
    }

    [Fact]
    public void Fp16_rwkv_cpp_file_holds_the_fp16_rounding_of_the_matrices_and_exact_vectors()
    {
        // The converter rounded each 2-D matrix to float16 (round to nearest even, like the (Half) cast).
        AssertSameValues(Models.TinyF32Safetensors, Models.TinyFp16Bin, roundToHalf: t => t.DType == TensorDType.F16);
    }

    [Fact]
    public void Mh4_pth_matches_its_safetensors_bit_for_bit()
    {
        AssertSameValues(Models.Mh4Safetensors, Models.Mh4Pth, roundToHalf: _ => false);
    }
}
