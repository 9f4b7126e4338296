namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// Widening runs of fp16 values with integer vector operations: every one of the 65,536 patterns, on the vector loop
/// and on its scalar tail. CI runs this class on every SIMD width, so each of the 512-bit, 256-bit and scalar paths is
/// checked against .NET's own conversion.
/// </summary>
public sealed class HalfConversionTests
{
    [Theory]
    [InlineData(0)] // every pattern starts a vector
    [InlineData(5)] // every pattern sits at another lane, and the last few fall in the scalar tail
    public void Every_fp16_pattern_widens_exactly(int offset)
    {
        Half[] halves = new Half[offset + 65536 + 3];
        for (int i = 0; i < 65536; i++)
        {
            halves[offset + i] = BitConverter.UInt16BitsToHalf((ushort)i);
        }

        float[] wide = new float[halves.Length + 1];
        wide[^1] = 42;
        HalfConversions.ToSingle(halves, wide.AsSpan(0, halves.Length));
        for (int i = 0; i < 65536; i++)
        {
            float expected = (float)halves[offset + i], actual = wide[offset + i];
            if (float.IsNaN(expected))
            {
                // NaNs keep their sign and payload (shifted up 13 bits) on every path: .NET's conversion quiets signalling ones.
                Assert.True(float.IsNaN(actual), $"pattern 0x{i:X4} widened to {actual}");
                Assert.Equal(((uint)(i & 0x8000) << 16) | 0x7F800000u | ((uint)(i & 0x3FF) << 13), BitConverter.SingleToUInt32Bits(actual));
            }
            else
            {
                Assert.True(
                    BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
                    $"pattern 0x{i:X4}: {actual:R} (0x{BitConverter.SingleToUInt32Bits(actual):X8}) against {expected:R}");
            }
        }

        Assert.Equal(42, wide[^1]); // nothing written past the run
    }

    [Fact]
    public void A_short_destination_is_refused()
    {
        Assert.Throws<ArgumentException>(() => HalfConversions.ToSingle(new Half[4], new float[3]));
    }
}
