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
    /// 256 bits, a row's group of eight blocks (<see cref="Q4Block"/>) from four plain 32-byte loads: load c's low
    /// nibbles are values 4c…4c + 3 of each block, its high nibbles values 16 + 4c…16 + 4c + 3, matched by inputs
    /// arranged once for all of a model step's parts (<see cref="Arrange"/>), so int32 lane j of the sums is block j's
    /// whole sum. Per group and row: per load one mask, one shift and mask and the sums (<typeparamref name="TSums"/>:
    /// two <c>vpdpbusd</c> with AVX-VNNI, their first addend the blocks' offsets; else two <c>vpmaddubsw</c> and their
    /// additions, then one <c>vpmaddwd</c> by ones and the offsets), then one conversion and one FMA by the eight blocks'
    /// weight scale × input scale as they are stored: 24 instructions per 256 weights and row with AVX-VNNI, where two
    /// blocks a load took 33 (a permutation, a conversion and an FMA per load; change 62). Four rows at a time;
    /// rows after the last tile of four run the same tile on one row, so that a row's sums never depend on the rows a
    /// call covers. Blocks after the last whole group take <see cref="BlockSums"/>. Changes 42, 44, 57 and 62 in
    /// docs/benchmarks.md.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulInt8V256<TPrefetch, TSums>(ref byte w, int n, ref sbyte xa, ref float xScales, ref int ko, ref float y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
        where TSums : struct, IGroupSums
    {
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, values = n / 2, groups = blocks / Q4Block.GroupBlocks;
        int tileBytes = RowTile * stride;
        nuint fetch = (nuint)(Prefetch.TilesAhead(TPrefetch.AheadBytes, tileBytes) * tileBytes);

        Vector256<byte> nibble = Vector256.Create((byte)0xF);
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

                // Load by load, each row's sums in one chain (the inputs of a load shared by the four rows; a group's
                // inputs whole in registers left no room for the rows' bytes: the JIT spilled them on every group).
                nuint at = (nuint)(g * Q4Block.GroupBytes), b = (nuint)(g * Q4Block.GroupBlocks);
                ref sbyte xg = ref Unsafe.Add(ref xa, g * Q4Block.GroupBlocks * Q4Block.Size);
                Vector256<int> k = Vector256.LoadUnsafe(ref ko, b * OffsetsPerBlock);
                Vector256<int> e0 = TSums.Start(k), e1 = e0, e2 = e0, e3 = e0;
                for (int c = 0; c < 4; c++)
                {
                    Vector256<sbyte> xl = Vector256.LoadUnsafe(ref xg, (nuint)(64 * c)), xh = Vector256.LoadUnsafe(ref xg, (nuint)((64 * c) + 32));
                    nuint ac = at + (nuint)(32 * c);
                    e0 = LoadSums<TSums>(e0, ref w0, ac, xl, xh, nibble);
                    e1 = LoadSums<TSums>(e1, ref w1, ac, xl, xh, nibble);
                    e2 = LoadSums<TSums>(e2, ref w2, ac, xl, xh, nibble);
                    e3 = LoadSums<TSums>(e3, ref w3, ac, xl, xh, nibble);
                }

                Vector256<float> xs = Vector256.LoadUnsafe(ref xScales, b);
                a0 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TSums.Finish(e0, k)), Vector256.LoadUnsafe(ref s0, b) * xs, a0);
                a1 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TSums.Finish(e1, k)), Vector256.LoadUnsafe(ref s1, b) * xs, a1);
                a2 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TSums.Finish(e2, k)), Vector256.LoadUnsafe(ref s2, b) * xs, a2);
                a3 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TSums.Finish(e3, k)), Vector256.LoadUnsafe(ref s3, b) * xs, a3);
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

    /// <summary>A row's sums <paramref name="sums"/> after its load at <paramref name="at"/>, whose nibbles take <paramref name="xl"/> (low) and <paramref name="xh"/> (high).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> LoadSums<TSums>(Vector256<int> sums, ref byte row, nuint at, Vector256<sbyte> xl, Vector256<sbyte> xh, Vector256<byte> nibble)
        where TSums : struct, IGroupSums
    {
        Vector256<byte> bytes = Vector256.LoadUnsafe(ref row, at);
        return TSums.Add(sums, bytes & nibble, xl, (bytes.AsUInt16() >>> 4).AsByte() & nibble, xh);
    }
}

/// <summary>
/// How the 256-bit 4-bit products add up a group's nibble × input byte pairs into one int32 lane per block: a type
/// parameter, so that the choice is made once per call. NativeAOT's x86-64-v3 build checks AVX-VNNI at run time, and a
/// check inside the loop spilled the nibble vectors and an accumulator to the stack on every step. A row's sums over a
/// group run in one chain: <see cref="Start"/> begins it, <see cref="Add"/> takes one load's nibbles, and
/// <see cref="Finish"/> gives offsets + Σ qᵢ·xᵢ per lane.
/// </summary>
internal interface IGroupSums
{
    /// <summary>The chain's start for offsets <paramref name="offsets"/>.</summary>
    static abstract Vector256<int> Start(Vector256<int> offsets);

    /// <summary>A chain after one load: its low nibbles <paramref name="low"/> by <paramref name="xl"/>, its high ones by <paramref name="xh"/>.</summary>
    static abstract Vector256<int> Add(Vector256<int> sums, Vector256<byte> low, Vector256<sbyte> xl, Vector256<byte> high, Vector256<sbyte> xh);

    /// <summary>offsets + Σ qᵢ·xᵢ per int32 lane from a chain begun by <see cref="Start"/> with the same offsets.</summary>
    static abstract Vector256<int> Finish(Vector256<int> sums, Vector256<int> offsets);
}

/// <summary>
/// <c>vpmaddubsw</c> (nibble × input, adjacent pairs to int16: at most 2 · 15 · 127 in magnitude) and 16-bit additions
/// (a group's eight products at most 30,480 in magnitude, so no lane wraps), then one <c>vpmaddwd</c> by ones to int32
/// and the offsets (AVX2).
/// </summary>
internal readonly struct MaddGroupSums : IGroupSums
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Start(Vector256<int> offsets) => Vector256<int>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> sums, Vector256<byte> low, Vector256<sbyte> xl, Vector256<byte> high, Vector256<sbyte> xh) =>
        (sums.AsInt16() + Avx2.MultiplyAddAdjacent(low, xl) + Avx2.MultiplyAddAdjacent(high, xh)).AsInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Finish(Vector256<int> sums, Vector256<int> offsets) =>
        Avx2.MultiplyAddAdjacent(sums.AsInt16(), Vector256<short>.One) + offsets;
}

/// <summary>
/// <c>vpdpbusd</c> (AVX-VNNI), four byte products and their addition into each int32 lane: the same integer sums as
/// <see cref="MaddGroupSums"/>, and so the same bits, in two instructions a load instead of four.
/// </summary>
internal readonly struct VnniGroupSums : IGroupSums
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Start(Vector256<int> offsets) => offsets;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> sums, Vector256<byte> low, Vector256<sbyte> xl, Vector256<byte> high, Vector256<sbyte> xh) =>
        AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(sums, low, xl), high, xh);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Finish(Vector256<int> sums, Vector256<int> offsets) => sums;
}
