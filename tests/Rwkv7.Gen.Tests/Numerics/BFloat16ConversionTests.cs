namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>Widening a run of bf16 patterns: the vector loop, its scalar tail, and the patterns that are not numbers.</summary>
public sealed class BFloat16ConversionTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(37)] // two vector steps and a tail of 5
    public void A_run_of_patterns_widens_to_what_each_pattern_widens_to(int length)
    {
        var rng = new Random(length);
        ushort[] patterns = [.. Enumerable.Range(0, length).Select(_ => (ushort)rng.Next(0, 0x10000))];
        if (length > 3)
        {
            patterns[1] = 0x7F80; // +infinity
            patterns[2] = 0xFFC1; // a NaN with payload
            patterns[3] = 0x8000; // −0
        }

        float[] wide = new float[length + 1];
        wide[length] = 42;
        BFloat16Conversions.ToSingle(patterns, wide);
        for (int i = 0; i < length; i++)
        {
            Assert.Equal((uint)patterns[i] << 16, BitConverter.SingleToUInt32Bits(wide[i]));
            Assert.Equal(BitConverter.SingleToUInt32Bits(BFloat16Conversions.ToSingle(patterns[i])), BitConverter.SingleToUInt32Bits(wide[i]));
        }

        Assert.Equal(42, wide[length]); // nothing written past the run
    }
}
