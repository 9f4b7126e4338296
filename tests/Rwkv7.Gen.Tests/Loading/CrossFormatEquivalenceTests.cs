using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;

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

    /// <summary>
    /// Compares every tensor of two files as float32 bit patterns; the reference's values are first rounded to
    /// float16 for the tensors of <paramref name="otherFile"/> that <paramref name="roundToHalf"/> selects.
    /// </summary>
    private static void AssertSameValues(string referenceFile, string otherFile, Func<CheckpointTensor, bool> roundToHalf)
    {
        using Checkpoint a = Checkpoint.Open(Fixtures.Path(referenceFile));
        using Checkpoint b = Checkpoint.Open(Fixtures.Path(otherFile));
        Assert.Equal(a.Tensors.Select(t => t.Name), b.Tensors.Select(t => t.Name));
        foreach (CheckpointTensor reference in a.Tensors)
        {
            CheckpointTensor other = b.Find(reference.Name)!;
            Assert.Equal(reference.Shape, other.Shape);
            float[] expected = ReadAsFloats(reference);
            if (roundToHalf(other))
            {
                for (int i = 0; i < expected.Length; i++)
                {
                    expected[i] = (float)(Half)expected[i];
                }
            }

            float[] actual = ReadAsFloats(other);
            int mismatch = FirstBitMismatch(expected, actual);
            Assert.True(
                mismatch < 0,
                $"{reference.Name}: {referenceFile} and {otherFile} differ at element {mismatch}: {(mismatch >= 0 ? $"{expected[mismatch]:R} vs {actual[mismatch]:R}" : "")}");
        }
    }

    private static float[] ReadAsFloats(CheckpointTensor t)
    {
        byte[] raw = new byte[t.ByteLength];
        t.ReadTo(raw);
        float[] values = new float[t.ElementCount];
        switch (t.DType)
        {
            case TensorDType.F32:
                MemoryMarshal.Cast<byte, float>(raw).CopyTo(values);
                break;
            case TensorDType.BF16:
                BFloat16Conversions.ToSingle(MemoryMarshal.Cast<byte, ushort>(raw), values);
                break;
            default:
                ReadOnlySpan<Half> halves = MemoryMarshal.Cast<byte, Half>(raw);
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = (float)halves[i];
                }

                break;
        }

        return values;
    }

    private static int FirstBitMismatch(float[] expected, float[] actual)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                return i;
            }
        }

        return -1;
    }
}
