using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rwkv7.Gen;

/// <summary>
/// Widening of IEEE fp16 values to float32 with integer vector operations, exact for every pattern (subnormals,
/// infinities and NaN payloads included). <c>TensorPrimitives.ConvertToSingle(ReadOnlySpan&lt;Half&gt;, …)</c> widens
/// about 4 G values/s on one core of this machine, which held fp16 decode to a quarter of its bandwidth floor; .NET
/// exposes no <c>vcvtph2ps</c>.
/// </summary>
internal static class HalfConversions
{
    /// <summary>Widens a run of fp16 values to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ToSingle(ReadOnlySpan<Half> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException("Destination is shorter than the source.", nameof(destination));
        }

        ref ushort from = ref Unsafe.As<Half, ushort>(ref MemoryMarshal.GetReference(source));
        ref uint to = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(destination));
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 32 <= source.Length; i += 32)
            {
                Vector512<ushort> patterns = Vector512.LoadUnsafe(ref from, (nuint)i);
                Widen(Vector512.WidenLower(patterns)).StoreUnsafe(ref to, (nuint)i);
                Widen(Vector512.WidenUpper(patterns)).StoreUnsafe(ref to, (nuint)(i + 16));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= source.Length; i += 16)
            {
                Vector256<ushort> patterns = Vector256.LoadUnsafe(ref from, (nuint)i);
                Widen(Vector256.WidenLower(patterns)).StoreUnsafe(ref to, (nuint)i);
                Widen(Vector256.WidenUpper(patterns)).StoreUnsafe(ref to, (nuint)(i + 8));
            }
        }

        for (; i < source.Length; i++)
        {
            Unsafe.Add(ref to, i) = Widen((uint)Unsafe.Add(ref from, i));
        }
    }

    /// <summary>
    /// fp16 patterns (one per 32-bit lane) as float32 patterns. Exponent and mantissa move up 13 bits and the exponent is
    /// rebased by 127 − 15; infinities and NaNs (exponent 31) are rebased once more, to 255; subnormals (exponent 0)
    /// are made as 2⁻¹⁴·(1 + m/1024) − 2⁻¹⁴, an exact subtraction of normal numbers; the sign moves up 16 bits. The
    /// selections compile to masked additions and a bitwise select with 512-bit vectors (+4.5% fp16 decode against
    /// adding and or-ing masks, `bench --ab`, 7 of 8 pairs). Rebasing by a multiplication by 2¹¹² takes fewer
    /// operations but multiplies subnormal float32 values, slow on many x86 cores; it measured slower here once, in
    /// runs too noisy to settle it (docs/benchmarks.md, ninth session).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<uint> Widen(Vector512<uint> h)
    {
        Vector512<uint> magnitude = h & Vector512.Create(0x7FFFu);
        Vector512<uint> o = (magnitude << 13) + Vector512.Create(112u << 23);
        o = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(0x7C00u)), o + Vector512.Create(112u << 23), o);
        o = Vector512.ConditionalSelect(Vector512.LessThan(magnitude, Vector512.Create(0x0400u)), ((o + Vector512.Create(1u << 23)).AsSingle() - Vector512.Create(113u << 23).AsSingle()).AsUInt32(), o);
        return Vector512.ConditionalSelect(Vector512.Create(0x80000000u), h << 16, o);
    }

    /// <summary>The 256-bit form of <see cref="Widen(Vector512{uint})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<uint> Widen(Vector256<uint> h)
    {
        Vector256<uint> magnitude = h & Vector256.Create(0x7FFFu);
        Vector256<uint> o = (magnitude << 13) + Vector256.Create(112u << 23);
        o = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(0x7C00u)), o + Vector256.Create(112u << 23), o);
        o = Vector256.ConditionalSelect(Vector256.LessThan(magnitude, Vector256.Create(0x0400u)), ((o + Vector256.Create(1u << 23)).AsSingle() - Vector256.Create(113u << 23).AsSingle()).AsUInt32(), o);
        return Vector256.ConditionalSelect(Vector256.Create(0x80000000u), h << 16, o);
    }

    /// <summary>
    /// One fp16 pattern as a float32 pattern, the scalar form of <see cref="Widen(Vector512{uint})"/>: unlike .NET's
    /// <c>(float)Half</c>, which quiets signalling NaNs, every path keeps a NaN's payload as it is.
    /// </summary>
    private static uint Widen(uint h)
    {
        uint magnitude = h & 0x7FFF;
        uint o = (magnitude << 13) + (112u << 23);
        if (magnitude >= 0x7C00)
        {
            o += 112u << 23;
        }
        else if (magnitude < 0x0400)
        {
            o = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(o + (1u << 23)) - BitConverter.UInt32BitsToSingle(113u << 23));
        }

        return o | ((h & 0x8000) << 16);
    }
}
