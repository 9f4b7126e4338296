using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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

    /// <summary>
    /// Rounds a run of float32 values to bf16 patterns as <see cref="FromSingle(float)"/> does each (ties to even, NaN
    /// kept a NaN): the conversion of an fp32 checkpoint packed as bf16.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void FromSingle(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException("Destination is shorter than the source.", nameof(destination));
        }

        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float from = ref MemoryMarshal.GetReference(source);
            ref ushort to = ref MemoryMarshal.GetReference(destination);
            for (; i + 16 <= source.Length; i += 16)
            {
                Vector256<float> a = Vector256.LoadUnsafe(ref from, (nuint)i), b = Vector256.LoadUnsafe(ref from, (nuint)(i + 8));
                Vector256.Narrow(Round(a), Round(b)).StoreUnsafe(ref to, (nuint)i);
            }
        }

        for (; i < source.Length; i++)
        {
            destination[i] = FromSingle(source[i]);
        }
    }

    /// <summary>The vector form of <see cref="FromSingle(float)"/>, each pattern in the low half of its lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Round(Vector256<float> values)
    {
        Vector256<uint> bits = values.AsUInt32();
        Vector256<uint> rounded = (bits + Vector256.Create(0x7FFFu) + ((bits >> 16) & Vector256<uint>.One)) >> 16;
        Vector256<uint> nan = (bits >> 16) | Vector256.Create(0x40u);
        return Vector256.ConditionalSelect(Vector256.Equals(values, values).AsUInt32(), rounded, nan);
    }

    /// <summary>Widens a run of bf16 patterns to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException("Destination is shorter than the source.", nameof(destination));
        }

        // Widening is a 16-bit left shift of each pattern into a 32-bit lane.
        Span<uint> target = MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort from = ref MemoryMarshal.GetReference(source);
            ref uint to = ref MemoryMarshal.GetReference(target);
            for (; i + 16 <= source.Length; i += 16)
            {
                var patterns = Vector256.LoadUnsafe(ref from, (nuint)i);
                (Vector256.WidenLower(patterns) << 16).StoreUnsafe(ref to, (nuint)i);
                (Vector256.WidenUpper(patterns) << 16).StoreUnsafe(ref to, (nuint)(i + 8));
            }
        }

        for (; i < source.Length; i++)
        {
            target[i] = (uint)source[i] << 16;
        }
    }
}
