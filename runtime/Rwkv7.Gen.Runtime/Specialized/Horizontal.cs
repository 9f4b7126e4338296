using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Horizontal sums for generated kernels: a row tile ends with one accumulator per (row, token) pair, and summing each
/// on its own (two extracts, two adds, then two in-register folds) was, at 768 inputs per row, 10–16% of a 512-bit
/// multi-token tile's time. <c>Sums</c> reduces four accumulators at once, sharing each shuffle between them: about 3
/// instructions per sum instead of 5–7 (docs/benchmarks.md, change 25). On the 256-bit path its Vector256 form ends the
/// multi-token tiles (one row's four tokens), and <see cref="Store"/> the four-row reductions.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Horizontal
{
    /// <summary>The sums of the lanes of <paramref name="a"/>, <paramref name="b"/>, <paramref name="c"/> and <paramref name="d"/>, in that order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sums(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        if (Avx512F.IsSupported)
        {
            // 128-bit blocks: [a0+a2, a1+a3, b0+b2, b1+b3] and the same for c, d.
            Vector512<float> ab = Avx512F.Shuffle4x128(a, b, 0x44) + Avx512F.Shuffle4x128(a, b, 0xEE);
            Vector512<float> cd = Avx512F.Shuffle4x128(c, d, 0x44) + Avx512F.Shuffle4x128(c, d, 0xEE);

            // Block k now holds four partial sums of the k-th vector; fold each block's lanes (pairs, then the pair sums).
            Vector512<float> u = Avx512F.Shuffle4x128(ab, cd, 0x88) + Avx512F.Shuffle4x128(ab, cd, 0xDD);
            u += Avx512F.Permute4x32(u, 0x4E);
            u += Avx512F.Permute4x32(u, 0xB1);
            return Avx512F.PermuteVar16x32(u, Vector512.Create(0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12)).GetLower().GetLower();
        }

        return Vector128.Create(Vector512.Sum(a), Vector512.Sum(b), Vector512.Sum(c), Vector512.Sum(d));
    }

    /// <summary>
    /// The sums of the lanes of four 256-bit accumulators, in order: each folded to 128 bits, then two levels of pairwise
    /// horizontal adds (7 instructions for four sums, against about 5 for each alone).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sums(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        if (Sse3.IsSupported)
        {
            Vector128<float> ab = Sse3.HorizontalAdd(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper());
            Vector128<float> cd = Sse3.HorizontalAdd(c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper());
            return Sse3.HorizontalAdd(ab, cd);
        }

        return Vector128.Create(Vector256.Sum(a), Vector256.Sum(b), Vector256.Sum(c), Vector256.Sum(d));
    }

    /// <summary>Writes (or, with <paramref name="accumulate"/>, adds) the four sums to <paramref name="output"/>[0..3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> sums, ref float output, bool accumulate)
    {
        if (accumulate)
        {
            sums += Vector128.LoadUnsafe(ref output);
        }

        sums.StoreUnsafe(ref output);
    }

    /// <summary>
    /// Writes (or adds) sums 2·<paramref name="pair"/> and 2·<paramref name="pair"/> + 1 to <paramref name="output"/>[0..1]:
    /// the last two rows of a 6-row tile, whose sums are taken for two tokens at once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StorePair(Vector128<float> sums, int pair, ref float output, bool accumulate)
    {
        float first = sums.GetElement(2 * pair), second = sums.GetElement((2 * pair) + 1);
        ref float next = ref Unsafe.Add(ref output, 1);
        output = accumulate ? output + first : first;
        next = accumulate ? next + second : second;
    }
}
