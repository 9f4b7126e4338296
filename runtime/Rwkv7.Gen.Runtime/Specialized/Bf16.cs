using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Widening of packed bfloat16 weights to float32 vectors, for generated kernels. A bf16 value is the upper half of a
/// float32, so widening is exact: zero-extend each 16-bit lane to 32 bits and shift it left by 16.
/// </summary>
public static class Bf16
{
    /// <summary>32 bf16 values → elements 0..15 in <paramref name="lo"/>, 16..31 in <paramref name="hi"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(Vector512<ushort> packed, out Vector512<float> lo, out Vector512<float> hi)
    {
        (Vector512<uint> l, Vector512<uint> h) = Vector512.Widen(packed);
        lo = Vector512.ShiftLeft(l, 16).AsSingle();
        hi = Vector512.ShiftLeft(h, 16).AsSingle();
    }

    /// <summary>16 bf16 values → elements 0..7 in <paramref name="lo"/>, 8..15 in <paramref name="hi"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(Vector256<ushort> packed, out Vector256<float> lo, out Vector256<float> hi)
    {
        (Vector256<uint> l, Vector256<uint> h) = Vector256.Widen(packed);
        lo = Vector256.ShiftLeft(l, 16).AsSingle();
        hi = Vector256.ShiftLeft(h, 16).AsSingle();
    }

    /// <summary>8 bf16 values → elements 0..3 in <paramref name="lo"/>, 4..7 in <paramref name="hi"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(Vector128<ushort> packed, out Vector128<float> lo, out Vector128<float> hi)
    {
        (Vector128<uint> l, Vector128<uint> h) = Vector128.Widen(packed);
        lo = Vector128.ShiftLeft(l, 16).AsSingle();
        hi = Vector128.ShiftLeft(h, 16).AsSingle();
    }
}
