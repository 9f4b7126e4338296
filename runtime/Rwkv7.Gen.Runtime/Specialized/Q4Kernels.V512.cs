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
    /// 512 bits, a row's group of eight blocks (<see cref="Q4Block"/>) from two plain 64-byte loads: a load's low nibbles
    /// are values 4c…4c + 3 of each block for its two chunks c (int32 lanes 0–7 the first chunk's blocks 0–7, lanes
    /// 8–15 the second's), its high nibbles values 16 + 4c…16 + 4c + 3, matched by inputs arranged once for all of a
    /// model step's parts (<see cref="Arrange"/>). Per group and row: per load one mask, one shift and mask, two
    /// <c>vpmaddubsw</c>; their 16-bit sum (at most 4 · 3,810 in magnitude) folded to 256 bits (block j's in lanes
    /// 2j, 2j + 1), one <c>vpmaddwd</c> by ones, the offsets' addition, then one conversion and one FMA by the eight
    /// blocks' weight scale × input scale as they are stored: 20 instructions per 256 weights and row, where four blocks
    /// a load took 22 (a permutation per load among them) (changes 42, 43, 57 and 62 in docs/benchmarks.md). .NET 10 has no
    /// 512-bit <c>vpdpbusd</c>. Blocks after the last whole group take <see cref="BlockSums"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulInt8V512<TPrefetch>(ref byte w, int n, ref sbyte xa, ref float xScales, ref int ko, ref float y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, values = n / 2, groups = blocks / Q4Block.GroupBlocks;
        int tileBytes = RowTile * stride;
        nuint fetch = (nuint)(Prefetch.TilesAhead(TPrefetch.AheadBytes, tileBytes) * tileBytes);

        Vector512<byte> nibble = Vector512.Create((byte)0xF);
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
            for (int g = 0; g < groups; g++)
            {
                if (prefetch)
                {
                    PrefetchGroup<TPrefetch>(ref w0, fetch, g);
                }

                nuint at = (nuint)(g * Q4Block.GroupBytes), b = (nuint)(g * Q4Block.GroupBlocks);
                ref sbyte xg = ref Unsafe.Add(ref xa, g * Q4Block.GroupBlocks * Q4Block.Size);
                Vector512<sbyte> x0 = Vector512.LoadUnsafe(ref xg), x1 = Vector512.LoadUnsafe(ref xg, 64);
                Vector512<sbyte> x2 = Vector512.LoadUnsafe(ref xg, 128), x3 = Vector512.LoadUnsafe(ref xg, 192);
                Vector256<int> k = Vector256.LoadUnsafe(ref ko, b * OffsetsPerBlock);
                Vector256<float> xs = Vector256.LoadUnsafe(ref xScales, b);
                a0 = Vector256.FusedMultiplyAdd(GroupSums512(ref w0, at, x0, x1, x2, x3, k, nibble), Vector256.LoadUnsafe(ref s0, b) * xs, a0);
                a1 = Vector256.FusedMultiplyAdd(GroupSums512(ref w1, at, x0, x1, x2, x3, k, nibble), Vector256.LoadUnsafe(ref s1, b) * xs, a1);
                a2 = Vector256.FusedMultiplyAdd(GroupSums512(ref w2, at, x0, x1, x2, x3, k, nibble), Vector256.LoadUnsafe(ref s2, b) * xs, a2);
                a3 = Vector256.FusedMultiplyAdd(GroupSums512(ref w3, at, x0, x1, x2, x3, k, nibble), Vector256.LoadUnsafe(ref s3, b) * xs, a3);
            }

            if (prefetch)
            {
                PrefetchRest<TPrefetch>(ref w0, fetch, 2 * groups * QuadTileBytes, tileBytes);
            }

            AloneBlocks(
                ref w0, ref w1, ref w2, ref w3, ref s0, ref s1, ref s2, ref s3, ref xa, ref xScales, ref ko, groups * Q4Block.GroupBlocks, blocks,
                ref a0, ref a1, ref a2, ref a3);

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

    /// <summary>Σ (q − 8)·x of each block of one row's group (int32 lane j: block j), as fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> GroupSums512(
        ref byte row, nuint at, Vector512<sbyte> x0, Vector512<sbyte> x1, Vector512<sbyte> x2, Vector512<sbyte> x3, Vector256<int> offsets, Vector512<byte> nibble)
    {
        Vector512<byte> b0 = Vector512.LoadUnsafe(ref row, at), b1 = Vector512.LoadUnsafe(ref row, at + 64);
        return GroupSums512(b0 & nibble, (b0.AsUInt16() >>> 4).AsByte() & nibble, b1 & nibble, (b1.AsUInt16() >>> 4).AsByte() & nibble, x0, x1, x2, x3, offsets);
    }

    /// <summary>
    /// Σ (q − 8)·x of each block of a group from its unpacked nibbles (<paramref name="l0"/> and <paramref name="h0"/>
    /// the first load's, by <paramref name="x0"/> and <paramref name="x1"/>), as fp32.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> GroupSums512(
        Vector512<byte> l0, Vector512<byte> h0, Vector512<byte> l1, Vector512<byte> h1,
        Vector512<sbyte> x0, Vector512<sbyte> x1, Vector512<sbyte> x2, Vector512<sbyte> x3, Vector256<int> offsets)
    {
        Vector512<short> pairs = Avx512BW.MultiplyAddAdjacent(l0, x0) + Avx512BW.MultiplyAddAdjacent(h0, x1)
            + Avx512BW.MultiplyAddAdjacent(l1, x2) + Avx512BW.MultiplyAddAdjacent(h1, x3);
        Vector256<short> folded = pairs.GetLower() + pairs.GetUpper();
        return Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(folded, Vector256<short>.One) + offsets);
    }
}
