using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

// The 512-bit products of 4-bit rows by 8-bit inputs (Q4Kernels.cs has the whole and the dispatch).
internal static partial class Q4Kernels
{
    /// <summary>
    /// 512 bits, four blocks per step from one plain 64-byte load: its low nibbles are values 0–15 of each block, its
    /// high nibbles values 16–31, matched by two vectors of 8-bit inputs arranged once for all of a model step's parts
    /// (<see cref="Arrange"/>), with the sums that take the nibbles' offset of 8 out (−8 · Σx per int32 lane). Per step
    /// and row: one mask, one shift and mask, two <c>vpmaddubsw</c>, their addition, one <c>vpmaddwd</c> by ones, the
    /// offsets' addition, one conversion and one FMA by the blocks' weight scale × input scale (made sixteen blocks at
    /// a time, spread by one permutation): 11 instructions per 128 weights and row, where 16-bit inputs took 18
    /// (docs/benchmarks.md, changes 42, 43 and 57). .NET 10 has no 512-bit <c>vpdpbusd</c>, which would take the two
    /// products and their additions in two. Blocks after the last whole four take <see cref="BlockSums"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulInt8V512<TPrefetch>(ref byte w, int n, ref sbyte xa, ref float xScales, ref int ko, ref float y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, values = n / 2, quads = blocks / 4;
        int tileBytes = RowTile * stride;
        nuint fetch = (nuint)(Prefetch.TilesAhead(TPrefetch.AheadBytes, tileBytes) * tileBytes);

        Vector512<byte> nibble = Vector512.Create((byte)0xF);
        Vector512<int> spread = Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
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
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            int q = 0;

            // Sixteen blocks' scale products per row at a time, then eight, then four.
            for (; q + 4 <= quads; q += 4)
            {
                Vector512<float> xs = Vector512.LoadUnsafe(ref xScales, (nuint)(4 * q));
                ScaledQuads<TPrefetch>(
                    ref w0, ref w1, ref w2, ref w3, ref xa, ref ko, q, 4, prefetch, fetch, nibble, spread,
                    Vector512.LoadUnsafe(ref s0, (nuint)(4 * q)) * xs, Vector512.LoadUnsafe(ref s1, (nuint)(4 * q)) * xs,
                    Vector512.LoadUnsafe(ref s2, (nuint)(4 * q)) * xs, Vector512.LoadUnsafe(ref s3, (nuint)(4 * q)) * xs,
                    ref a0, ref a1, ref a2, ref a3);
            }

            if (q + 2 <= quads)
            {
                Vector256<float> xs = Vector256.LoadUnsafe(ref xScales, (nuint)(4 * q));
                ScaledQuads<TPrefetch>(
                    ref w0, ref w1, ref w2, ref w3, ref xa, ref ko, q, 2, prefetch, fetch, nibble, spread,
                    (Vector256.LoadUnsafe(ref s0, (nuint)(4 * q)) * xs).ToVector512Unsafe(), (Vector256.LoadUnsafe(ref s1, (nuint)(4 * q)) * xs).ToVector512Unsafe(),
                    (Vector256.LoadUnsafe(ref s2, (nuint)(4 * q)) * xs).ToVector512Unsafe(), (Vector256.LoadUnsafe(ref s3, (nuint)(4 * q)) * xs).ToVector512Unsafe(),
                    ref a0, ref a1, ref a2, ref a3);
                q += 2;
            }

            if (q < quads)
            {
                Vector128<float> xs = Vector128.LoadUnsafe(ref xScales, (nuint)(4 * q));
                ScaledQuads<TPrefetch>(
                    ref w0, ref w1, ref w2, ref w3, ref xa, ref ko, q, 1, prefetch, fetch, nibble, spread,
                    (Vector128.LoadUnsafe(ref s0, (nuint)(4 * q)) * xs).ToVector256Unsafe().ToVector512Unsafe(), (Vector128.LoadUnsafe(ref s1, (nuint)(4 * q)) * xs).ToVector256Unsafe().ToVector512Unsafe(),
                    (Vector128.LoadUnsafe(ref s2, (nuint)(4 * q)) * xs).ToVector256Unsafe().ToVector512Unsafe(), (Vector128.LoadUnsafe(ref s3, (nuint)(4 * q)) * xs).ToVector256Unsafe().ToVector512Unsafe(),
                    ref a0, ref a1, ref a2, ref a3);
            }

            if (prefetch)
            {
                PrefetchRest<TPrefetch>(ref w0, fetch, quads * QuadTileBytes, tileBytes);
            }

            for (int b = 4 * quads; b < blocks; b++)
            {
                nuint at = (nuint)(b * Q4Block.PackedBytes);
                ref sbyte xb = ref Unsafe.Add(ref xa, b * Q4Block.Size);
                ref int kb = ref Unsafe.Add(ref ko, b * OffsetsPerBlock);
                float xs = Unsafe.Add(ref xScales, b);
                a0 = Vector512.FusedMultiplyAdd(BlockSums(ref w0, at, ref xb, ref kb).ToVector256().ToVector512(), Vector512.Create(Unsafe.Add(ref s0, b) * xs), a0);
                a1 = Vector512.FusedMultiplyAdd(BlockSums(ref w1, at, ref xb, ref kb).ToVector256().ToVector512(), Vector512.Create(Unsafe.Add(ref s1, b) * xs), a1);
                a2 = Vector512.FusedMultiplyAdd(BlockSums(ref w2, at, ref xb, ref kb).ToVector256().ToVector512(), Vector512.Create(Unsafe.Add(ref s2, b) * xs), a2);
                a3 = Vector512.FusedMultiplyAdd(BlockSums(ref w3, at, ref xb, ref kb).ToVector256().ToVector512(), Vector512.Create(Unsafe.Add(ref s3, b) * xs), a3);
            }

            Store(ref y, r, Vector512.Sum(a0), accumulate);
            if (!full)
            {
                r++;
                continue;
            }

            Store(ref y, r + 1, Vector512.Sum(a1), accumulate);
            Store(ref y, r + 2, Vector512.Sum(a2), accumulate);
            Store(ref y, r + 3, Vector512.Sum(a3), accumulate);
            r += RowTile;
        }
    }

    /// <summary>
    /// <paramref name="count"/> steps of four blocks from step <paramref name="first"/> for four rows, whose combined
    /// scales (weight scale × input scale, one lane per block from the first step's first block) are
    /// <paramref name="c0"/>…<paramref name="c3"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaledQuads<TPrefetch>(
        ref byte w0, ref byte w1, ref byte w2, ref byte w3, ref sbyte xa, ref int ko, int first, int count,
        bool prefetch, nuint fetch, Vector512<byte> nibble, Vector512<int> spread,
        Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
        where TPrefetch : struct, IWeightPrefetch
    {
        Vector512<int> index = spread, four = Vector512.Create(4);
        for (int q = first, end = first + count; q < end; q++, index += four)
        {
            if (prefetch)
            {
                PrefetchShare<TPrefetch>(ref w0, fetch + (nuint)(q * QuadTileBytes));
            }

            nuint at = (nuint)(q * 64);
            ref sbyte xq = ref Unsafe.Add(ref xa, q * 128);
            Vector512<sbyte> xl = Vector512.LoadUnsafe(ref xq), xh = Vector512.LoadUnsafe(ref xq, 64);
            Vector512<int> k = Vector512.LoadUnsafe(ref ko, (nuint)(q * 16));
            a0 = Vector512.FusedMultiplyAdd(QuadSums(ref w0, at, xl, xh, k, nibble), Avx512F.PermuteVar16x32(c0, index), a0);
            a1 = Vector512.FusedMultiplyAdd(QuadSums(ref w1, at, xl, xh, k, nibble), Avx512F.PermuteVar16x32(c1, index), a1);
            a2 = Vector512.FusedMultiplyAdd(QuadSums(ref w2, at, xl, xh, k, nibble), Avx512F.PermuteVar16x32(c2, index), a2);
            a3 = Vector512.FusedMultiplyAdd(QuadSums(ref w3, at, xl, xh, k, nibble), Avx512F.PermuteVar16x32(c3, index), a3);
        }
    }

    /// <summary>Σ (q − 8)·x per int32 lane for four blocks (lanes 4b…4b + 3 block b's), as fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> QuadSums(ref byte row, nuint at, Vector512<sbyte> xl, Vector512<sbyte> xh, Vector512<int> offsets, Vector512<byte> nibble)
    {
        Vector512<byte> bytes = Vector512.LoadUnsafe(ref row, at);
        return QuadSums(bytes & nibble, (bytes.AsUInt16() >>> 4).AsByte() & nibble, xl, xh, offsets);
    }

    /// <summary>Σ (q − 8)·x per int32 lane for four blocks from their unpacked nibbles, as fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> QuadSums(Vector512<byte> low, Vector512<byte> high, Vector512<sbyte> xl, Vector512<sbyte> xh, Vector512<int> offsets) =>
        Avx512F.ConvertToVector512Single(
            Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(low, xl) + Avx512BW.MultiplyAddAdjacent(high, xh), Vector512<short>.One) + offsets);
}
