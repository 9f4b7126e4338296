using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

// The 256-bit products of 4-bit rows by 16-bit inputs (Q4Kernels.cs has the whole and the dispatch).
internal static partial class Q4Kernels
{
    /// <summary>
    /// 256 bits, two blocks per step from one plain 32-byte load, as the 512-bit product takes four: lane L (16 int16
    /// lanes) holds bytes 2L and 2L + 1 of block L / 8, whose nibbles are values j, j + 1, j + 16, j + 17 of that block
    /// (j = 2·(L mod 8)). Per step and row: six shifts and masks, four <c>vpmaddwd</c>, three additions, one addition
    /// of the offsets (with AVX-VNNI, four <c>vpdpwssd</c> instead of these eight: <typeparamref name="TSums"/>), one
    /// conversion and one FMA by the blocks' weight scale × input scale (made eight blocks at a time, spread by one
    /// permutation). Four rows at a time; rows after the last tile of four run the same tile on one row,
    /// so that a row's sums never depend on the rows a call covers. A final odd block takes <see cref="BlockSums256"/>.
    /// Changes 42 and 44 in docs/benchmarks.md: from one row at a time with a widening load per block, 4-bit decode on
    /// Zen 5 at this width +23%, then +11%.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulInt16V256<TPrefetch, TSums>(ref byte w, int n, ref short x, ref float xScales, ref short xa, ref int ko, ref float y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
        where TSums : struct, IPairSums
    {
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, values = n / 2, pairs = blocks / 2;
        int tileBytes = RowTile * stride;
        nuint fetch = (nuint)(Prefetch.TilesAhead(TPrefetch.AheadBytes, tileBytes) * tileBytes);

        Vector256<ushort> nibble = Vector256.Create((ushort)0xF);
        Vector256<int> spread = Vector256.Create(0, 0, 0, 0, 1, 1, 1, 1), two = Vector256.Create(2);
        for (int r = rowStart; r < rowEnd;)
        {
            // Four rows, or one row four times after the last whole tile (at most three rows per call), so that a
            // row's sums never depend on the rows a call covers.
            bool full = r + RowTile <= rowEnd;
            ref byte w0 = ref Unsafe.Add(ref w, (nint)r * stride);
            ref byte w1 = ref full ? ref Unsafe.Add(ref w0, stride) : ref w0;
            ref byte w2 = ref full ? ref Unsafe.Add(ref w0, 2 * stride) : ref w0;
            ref byte w3 = ref full ? ref Unsafe.Add(ref w0, 3 * stride) : ref w0;
            bool prefetch = r + (2 * RowTile) <= rowEnd;
            ref float s0 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w0, values));
            ref float s1 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w1, values));
            ref float s2 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w2, values));
            ref float s3 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w3, values));
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            Vector256<float> c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            Vector256<int> index = spread;
            for (int p = 0; p < pairs; p++, index += two)
            {
                if ((p & 3) == 0)
                {
                    int b = 2 * p;
                    if (b + 8 <= blocks)
                    {
                        // Eight blocks' weight scale × input scale per row.
                        Vector256<float> xs = Vector256.LoadUnsafe(ref xScales, (nuint)b);
                        c0 = Vector256.LoadUnsafe(ref s0, (nuint)b) * xs;
                        c1 = Vector256.LoadUnsafe(ref s1, (nuint)b) * xs;
                        c2 = Vector256.LoadUnsafe(ref s2, (nuint)b) * xs;
                        c3 = Vector256.LoadUnsafe(ref s3, (nuint)b) * xs;
                    }
                    else
                    {
                        for (int j = 0; b + j < 2 * pairs; j++)
                        {
                            float xs = Unsafe.Add(ref xScales, b + j);
                            c0 = c0.WithElement(j, Unsafe.Add(ref s0, b + j) * xs);
                            c1 = c1.WithElement(j, Unsafe.Add(ref s1, b + j) * xs);
                            c2 = c2.WithElement(j, Unsafe.Add(ref s2, b + j) * xs);
                            c3 = c3.WithElement(j, Unsafe.Add(ref s3, b + j) * xs);
                        }
                    }

                    index = spread;
                }

                if (prefetch && (p & 1) == 0)
                {
                    // The share of this step and the next.
                    PrefetchShare<TPrefetch>(ref w0, fetch + (nuint)(p / 2 * QuadTileBytes));
                }

                nuint at = (nuint)(p * 32);
                ref short xp = ref Unsafe.Add(ref xa, p * 64);
                Vector256<short> x0 = Vector256.LoadUnsafe(ref xp), x1 = Vector256.LoadUnsafe(ref xp, 16), x2 = Vector256.LoadUnsafe(ref xp, 32), x3 = Vector256.LoadUnsafe(ref xp, 48);
                Vector256<int> k = Vector256.LoadUnsafe(ref ko, (nuint)(p * 8));
                a0 = Vector256.FusedMultiplyAdd(PairSums256<TSums>(ref w0, at, x0, x1, x2, x3, k, nibble), Avx2.PermuteVar8x32(c0, index), a0);
                a1 = Vector256.FusedMultiplyAdd(PairSums256<TSums>(ref w1, at, x0, x1, x2, x3, k, nibble), Avx2.PermuteVar8x32(c1, index), a1);
                a2 = Vector256.FusedMultiplyAdd(PairSums256<TSums>(ref w2, at, x0, x1, x2, x3, k, nibble), Avx2.PermuteVar8x32(c2, index), a2);
                a3 = Vector256.FusedMultiplyAdd(PairSums256<TSums>(ref w3, at, x0, x1, x2, x3, k, nibble), Avx2.PermuteVar8x32(c3, index), a3);
            }

            if (prefetch)
            {
                PrefetchRest<TPrefetch>(ref w0, fetch, (pairs + 1) / 2 * QuadTileBytes, tileBytes);
            }

            if (blocks % 2 != 0)
            {
                int b = blocks - 1;
                nuint at = (nuint)(b * Q4Block.PackedBytes);
                ref short xb = ref Unsafe.Add(ref x, b * Q4Block.Size);
                Vector256<short> xl = Vector256.LoadUnsafe(ref xb), xh = Vector256.LoadUnsafe(ref xb, 16), one = Vector256<short>.One;
                Vector256<int> k = (Avx2.MultiplyAddAdjacent(xl, one) + Avx2.MultiplyAddAdjacent(xh, one)) * Q4Block.Offset;
                Vector256<short> mask = Vector256.Create((short)0xF);
                float xs = Unsafe.Add(ref xScales, b);
                a0 = Vector256.FusedMultiplyAdd(BlockSums256(ref w0, at, xl, xh, k, mask), Vector256.Create(Unsafe.Add(ref s0, b) * xs), a0);
                a1 = Vector256.FusedMultiplyAdd(BlockSums256(ref w1, at, xl, xh, k, mask), Vector256.Create(Unsafe.Add(ref s1, b) * xs), a1);
                a2 = Vector256.FusedMultiplyAdd(BlockSums256(ref w2, at, xl, xh, k, mask), Vector256.Create(Unsafe.Add(ref s2, b) * xs), a2);
                a3 = Vector256.FusedMultiplyAdd(BlockSums256(ref w3, at, xl, xh, k, mask), Vector256.Create(Unsafe.Add(ref s3, b) * xs), a3);
            }

            Store(ref y, r, Vector256.Sum(a0), accumulate);
            if (!full)
            {
                r++;
                continue;
            }

            Store(ref y, r + 1, Vector256.Sum(a1), accumulate);
            Store(ref y, r + 2, Vector256.Sum(a2), accumulate);
            Store(ref y, r + 3, Vector256.Sum(a3), accumulate);
            r += RowTile;
        }
    }

    /// <summary>Σ (q − 8)·x per int32 lane for two blocks (lanes 4b…4b + 3 block b's), as fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> PairSums256<TSums>(ref byte row, nuint at, Vector256<short> x0, Vector256<short> x1, Vector256<short> x2, Vector256<short> x3, Vector256<int> offsets, Vector256<ushort> nibble)
        where TSums : struct, IPairSums
    {
        Vector256<ushort> lanes = Vector256.LoadUnsafe(ref row, at).AsUInt16();
        return Avx.ConvertToVector256Single(TSums.Sums(
            (lanes & nibble).AsInt16(), x0, ((lanes >>> 8) & nibble).AsInt16(), x1,
            ((lanes >>> 4) & nibble).AsInt16(), x2, (lanes >>> 12).AsInt16(), x3, offsets));
    }

    /// <summary>Σ (q − 8)·x per pair of lanes of one block (its 16 bytes), as fp32: the sums of q·x less <paramref name="offsets"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BlockSums256(ref byte row, nuint at, Vector256<short> xl, Vector256<short> xh, Vector256<int> offsets, Vector256<short> nibble)
    {
        Vector256<short> bytes = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref row, at));
        Vector256<int> sums = Avx2.MultiplyAddAdjacent(bytes & nibble, xl) + Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(bytes, 4), xh);
        return Avx.ConvertToVector256Single(sums - offsets);
    }
}

/// <summary>
/// How the 256-bit 4-bit product adds up its four nibble vectors' products: a type parameter, so that the choice is
/// made once per call. NativeAOT's x86-64-v3 build checks AVX-VNNI at run time, and a check inside the loop spilled
/// the nibble vectors and an accumulator to the stack on every step.
/// </summary>
internal interface IPairSums
{
    /// <summary><paramref name="offsets"/> + Σ qᵢ·xᵢ over adjacent int16 pairs, per int32 lane.</summary>
    static abstract Vector256<int> Sums(
        Vector256<short> q0, Vector256<short> x0, Vector256<short> q1, Vector256<short> x1,
        Vector256<short> q2, Vector256<short> x2, Vector256<short> q3, Vector256<short> x3, Vector256<int> offsets);
}

/// <summary>Four <c>vpmaddwd</c> and four additions (AVX2).</summary>
internal readonly struct MaddPairSums : IPairSums
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Sums(
        Vector256<short> q0, Vector256<short> x0, Vector256<short> q1, Vector256<short> x1,
        Vector256<short> q2, Vector256<short> x2, Vector256<short> q3, Vector256<short> x3, Vector256<int> offsets) =>
        Avx2.MultiplyAddAdjacent(q0, x0) + Avx2.MultiplyAddAdjacent(q1, x1) + Avx2.MultiplyAddAdjacent(q2, x2)
        + Avx2.MultiplyAddAdjacent(q3, x3) + offsets;
}

/// <summary>
/// Four <c>vpdpwssd</c> (AVX-VNNI), each a product and its addition: 14 instructions per 64 weights and row instead of
/// 18, the same integer sums and so the same bits (docs/benchmarks.md, change 46).
/// </summary>
internal readonly struct VnniPairSums : IPairSums
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Sums(
        Vector256<short> q0, Vector256<short> x0, Vector256<short> q1, Vector256<short> x1,
        Vector256<short> q2, Vector256<short> x2, Vector256<short> q3, Vector256<short> x3, Vector256<int> offsets) =>
        AvxVnni.MultiplyWideningAndAdd(
            AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(offsets, q0, x0), q1, x1), q2, x2),
            q3, x3);
}
