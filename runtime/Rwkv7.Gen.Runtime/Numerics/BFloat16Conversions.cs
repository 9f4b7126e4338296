namespace Rwkv7.Gen;

/// <summary>Conversions between float32 and bfloat16 bit patterns (the upper half of a float32).</summary>
public static class BFloat16Conversions
{
    /// <summary>Widens one bf16 pattern to float32 (exact).</summary>
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Rounds a float32 to the nearest bf16 pattern, ties to even; NaN stays NaN.</summary>
    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>Widens a run of bf16 patterns to float32.</summary>
    public static void ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException("Destination is shorter than the source.", nameof(destination));
        }

        // Widening is a 16-bit left shift of each pattern into a 32-bit lane.
        Span<uint> target = System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(destination);
        for (int i = 0; i < source.Length; i++)
        {
            target[i] = (uint)source[i] << 16;
        }
    }
}
