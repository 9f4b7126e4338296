using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

// The 256-bit products of 4-bit rows by 8-bit inputs (Q4Kernels.cs has the whole and the dispatch).
internal static partial class Q4Kernels
{
    /// <summary>
    /// 256 bits, two blocks per step from one plain 32-byte load: its low nibbles are values 0–15 of the two blocks,
    /// its high nibbles values 16–31, matched by two vectors of 8-bit inputs (<see cref="Arrange"/>); int32 lane L sums
    /// lane L's four bytes of each, so lanes 0–3 are the first block's and 4–7 the second's. Per step and row: one
    /// mask, one shift and mask, the sums (two <c>vpdpbusd</c> with AVX-VNNI, their first addend the offsets; else
    /// two <c>vpmaddubsw</c>, an addition, a <c>vpmaddwd</c> by ones and the offsets: <typeparamref name="TSums"/>),
    /// one conversion and one FMA by the blocks' weight scale × input scale (made eight blocks at a time, spread by
    /// one permutation): 8 instructions per 64 weights and row with AVX-VNNI, where 16-bit inputs took 14. Four rows at
    /// a time; rows after the last tile of four run the same tile on one row, so that a row's sums never depend on the
    /// rows a call covers. A final odd block takes <see cref="BlockSums"/>. Changes 42, 44 and 57 in docs/benchmarks.md.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulInt8V256<TPrefetch, TSums>(ref byte w, int n, ref sbyte xa, ref float xScales, ref int ko, ref float y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
        where TSums : struct, IPairSums
    {
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, values = n / 2, pairs = blocks / 2;
        int tileBytes = RowTile * stride;
        nuint fetch = (nuint)(Prefetch.TilesAhead(TPrefetch.AheadBytes, tileBytes) * tileBytes);

        Vector256<byte> nibble = Vector256.Create((byte)0xF);
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
                ref sbyte xp = ref Unsafe.Add(ref xa, p * 64);
                Vector256<sbyte> xl = Vector256.LoadUnsafe(ref xp), xh = Vector256.LoadUnsafe(ref xp, 32);
                Vector256<int> k = Vector256.LoadUnsafe(ref ko, (nuint)(p * 8));
                a0 = Vector256.FusedMultiplyAdd(PairSums256<TSums>(ref w0, at, xl, xh, k, nibble), Avx2.PermuteVar8x32(c0, index), a0);
                a1 = Vector256.FusedMultiplyAdd(PairSums256<TSums>(ref w1, at, xl, xh, k, nibble), Avx2.PermuteVar8x32(c1, index), a1);
                a2 = Vector256.FusedMultiplyAdd(PairSums256<TSums>(ref w2, at, xl, xh, k, nibble), Avx2.PermuteVar8x32(c2, index), a2);
                a3 = Vector256.FusedMultiplyAdd(PairSums256<TSums>(ref w3, at, xl, xh, k, nibble), Avx2.PermuteVar8x32(c3, index), a3);
            }

            if (prefetch)
            {
                PrefetchRest<TPrefetch>(ref w0, fetch, (pairs + 1) / 2 * QuadTileBytes, tileBytes);
            }

            if (blocks % 2 != 0)
            {
                int b = blocks - 1;
                nuint at = (nuint)(b * Q4Block.PackedBytes);
                ref sbyte xb = ref Unsafe.Add(ref xa, b * Q4Block.Size);
                ref int kb = ref Unsafe.Add(ref ko, b * OffsetsPerBlock);
                float xs = Unsafe.Add(ref xScales, b);
                a0 = Vector256.FusedMultiplyAdd(BlockSums(ref w0, at, ref xb, ref kb).ToVector256(), Vector256.Create(Unsafe.Add(ref s0, b) * xs), a0);
                a1 = Vector256.FusedMultiplyAdd(BlockSums(ref w1, at, ref xb, ref kb).ToVector256(), Vector256.Create(Unsafe.Add(ref s1, b) * xs), a1);
                a2 = Vector256.FusedMultiplyAdd(BlockSums(ref w2, at, ref xb, ref kb).ToVector256(), Vector256.Create(Unsafe.Add(ref s2, b) * xs), a2);
                a3 = Vector256.FusedMultiplyAdd(BlockSums(ref w3, at, ref xb, ref kb).ToVector256(), Vector256.Create(Unsafe.Add(ref s3, b) * xs), a3);
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
    private static Vector256<float> PairSums256<TSums>(ref byte row, nuint at, Vector256<sbyte> xl, Vector256<sbyte> xh, Vector256<int> offsets, Vector256<byte> nibble)
        where TSums : struct, IPairSums
    {
        Vector256<byte> bytes = Vector256.LoadUnsafe(ref row, at);
        return Avx.ConvertToVector256Single(TSums.Sums(bytes & nibble, xl, (bytes.AsUInt16() >>> 4).AsByte() & nibble, xh, offsets));
    }
}

/// <summary>
/// How the 256-bit 4-bit product adds up its nibble × input byte pairs: a type parameter, so that the choice is made
/// once per call. NativeAOT's x86-64-v3 build checks AVX-VNNI at run time, and a check inside the loop spilled the
/// nibble vectors and an accumulator to the stack on every step.
/// </summary>
internal interface IPairSums
{
    /// <summary><paramref name="offsets"/> + Σ qᵢ·xᵢ over each int32 lane's four bytes of both pairs of vectors.</summary>
    static abstract Vector256<int> Sums(Vector256<byte> q0, Vector256<sbyte> x0, Vector256<byte> q1, Vector256<sbyte> x1, Vector256<int> offsets);
}

/// <summary>
/// Two <c>vpmaddubsw</c> (nibble × input, adjacent pairs to int16: at most 2 · 15 · 127 in magnitude), their
/// addition, one <c>vpmaddwd</c> by ones to int32 and the offsets (AVX2).
/// </summary>
internal readonly struct MaddPairSums : IPairSums
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Sums(Vector256<byte> q0, Vector256<sbyte> x0, Vector256<byte> q1, Vector256<sbyte> x1, Vector256<int> offsets) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q0, x0) + Avx2.MultiplyAddAdjacent(q1, x1), Vector256<short>.One) + offsets;
}

/// <summary>
/// Two <c>vpdpbusd</c> (AVX-VNNI), each four byte products and their addition into int32: the same integer sums as
/// <see cref="MaddPairSums"/>, and so the same bits, in two instructions instead of five.
/// </summary>
internal readonly struct VnniPairSums : IPairSums
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Sums(Vector256<byte> q0, Vector256<sbyte> x0, Vector256<byte> q1, Vector256<sbyte> x1, Vector256<int> offsets) =>
        AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(offsets, q0, x0), q1, x1);
}
