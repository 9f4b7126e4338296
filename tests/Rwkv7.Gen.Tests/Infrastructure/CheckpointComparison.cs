using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Tests.Infrastructure;

/// <summary>Tensor-by-tensor comparisons of two checkpoint files of the same model, as float32 bit patterns.</summary>
internal static class CheckpointComparison
{
    /// <summary>
    /// Asserts that both files hold the same tensor names (in the same order when <paramref name="sameOrder"/>),
    /// shapes and values, bit for bit once widened to float32; where <paramref name="roundToHalf"/> selects a tensor
    /// of <paramref name="otherFile"/>, the reference's values are first rounded to fp16. Names the first element
    /// that differs.
    /// </summary>
    public static void AssertSameValues(string referenceFile, string otherFile, Func<CheckpointTensor, bool> roundToHalf, bool sameOrder = true)
    {
        using Checkpoint a = Checkpoint.Open(Fixtures.Path(referenceFile));
        using Checkpoint b = Checkpoint.Open(Fixtures.Path(otherFile));
        IEnumerable<string> expectedNames = a.Tensors.Select(t => t.Name), actualNames = b.Tensors.Select(t => t.Name);
        Assert.Equal(
            sameOrder ? expectedNames : expectedNames.Order(StringComparer.Ordinal),
            sameOrder ? actualNames : actualNames.Order(StringComparer.Ordinal));
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

    /// <summary>A tensor's values widened to float32 (F32, BF16 or F16 storage).</summary>
    public static float[] ReadAsFloats(CheckpointTensor t)
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
            case TensorDType.F16:
                ReadOnlySpan<Half> halves = MemoryMarshal.Cast<byte, Half>(raw);
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = (float)halves[i];
                }

                break;
            default:
                throw new ArgumentException($"{t.Name} is {t.DType}, not a float type", nameof(t));
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
