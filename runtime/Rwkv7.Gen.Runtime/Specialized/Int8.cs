using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Widening of packed int8 weights (Q8 matrices) to float32 vectors, for generated kernels: sign-extend each byte
/// to 32 bits, then convert. Uses the single-instruction x86 conversions where available, portable widening elsewhere.
/// </summary>
public static class Int8
{
    /// <summary>32 int8 values at <paramref name="p"/>[offset…] → elements 0..15 in <paramref name="lo"/>, 16..31 in <paramref name="hi"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(ref sbyte p, nuint offset, out Vector512<float> lo, out Vector512<float> hi)
    {
        if (Avx512F.IsSupported)
        {
            lo = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref p, offset)));
            hi = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref p, offset + 16)));
            return;
        }

        Widen(ref p, offset, out Vector256<float> a, out Vector256<float> b);
        Widen(ref p, offset + 16, out Vector256<float> c, out Vector256<float> d);
        lo = Vector512.Create(a, b);
        hi = Vector512.Create(c, d);
    }

    /// <summary>16 int8 values → elements 0..7 in <paramref name="lo"/>, 8..15 in <paramref name="hi"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(ref sbyte p, nuint offset, out Vector256<float> lo, out Vector256<float> hi)
    {
        Vector128<sbyte> v = Vector128.LoadUnsafe(ref p, offset);
        if (Avx2.IsSupported)
        {
            lo = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(v));
            hi = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(v, 8)));
            return;
        }

        (Vector128<short> s0, Vector128<short> s1) = Vector128.Widen(v);
        lo = Vector256.Create(Vector128.ConvertToSingle(Vector128.WidenLower(s0)), Vector128.ConvertToSingle(Vector128.WidenUpper(s0)));
        hi = Vector256.Create(Vector128.ConvertToSingle(Vector128.WidenLower(s1)), Vector128.ConvertToSingle(Vector128.WidenUpper(s1)));
    }

    /// <summary>8 int8 values → elements 0..3 in <paramref name="lo"/>, 4..7 in <paramref name="hi"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(ref sbyte p, nuint offset, out Vector128<float> lo, out Vector128<float> hi)
    {
        Vector128<sbyte> v = Vector128.CreateScalar(Unsafe.ReadUnaligned<long>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref p, offset)))).AsSByte();
        Vector128<short> s = Vector128.WidenLower(v);
        lo = Vector128.ConvertToSingle(Vector128.WidenLower(s));
        hi = Vector128.ConvertToSingle(Vector128.WidenUpper(s));
    }
}
