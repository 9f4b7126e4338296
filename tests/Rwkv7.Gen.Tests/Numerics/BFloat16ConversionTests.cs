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

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(53)] // three vector steps and a tail of 5
    [InlineData(4099)]
    public void A_run_of_values_rounds_to_what_each_value_rounds_to(int length)
    {
        var rng = new Random(length + 1);
        float[] values = [.. Enumerable.Range(0, length).Select(_ => BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32)))];
        float[] special = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, float.Epsilon, float.MaxValue,
            BitConverter.UInt32BitsToSingle(0x3F808000), BitConverter.UInt32BitsToSingle(0x3F818000), // ties: to even, both ways
            BitConverter.UInt32BitsToSingle(0x7F800001), BitConverter.UInt32BitsToSingle(0xFFFFFFFF)]; // NaNs with payloads
        special.AsSpan(0, Math.Min(length, special.Length)).CopyTo(values);

        ushort[] narrowed = new ushort[length + 1];
        narrowed[length] = 42;
        BFloat16Conversions.FromSingle(values, narrowed.AsSpan(0, length));
        for (int i = 0; i < length; i++)
        {
            Assert.True(BFloat16Conversions.FromSingle(values[i]) == narrowed[i], $"element {i}: 0x{BitConverter.SingleToUInt32Bits(values[i]):X8} → 0x{narrowed[i]:X4}, one at a time 0x{BFloat16Conversions.FromSingle(values[i]):X4}");
        }

        Assert.Equal(42, narrowed[length]); // nothing written past the run
    }
}
