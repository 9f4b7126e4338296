using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// One-token products of 4-bit matrices (<see cref="TensorDType.Q4"/>) with inputs rounded to 16 bits
/// (<see cref="Int16Activations"/>): the products of 4-bit decode. Width-generic (the loop bound is the row length),
/// not generated: a one-token product streams its weights once, so it is bound by memory and by the unpacking of
/// nibbles, neither of which a constant width changes. Multi-token products of 4-bit matrices widen their rows a
/// chunk at a time into the generated fp32 tiles (<see cref="SpecializedModel{TKernels}"/>).
/// </summary>
internal static class Q4Kernels
{
    private const int RowTile = 4;

    /// <summary>
    /// Widest row the 512-bit and the 256-bit row tiles take: they arrange their inputs and offsets on the stack (2.5 and
    /// 1 bytes per input: 40 KiB at this width, which every released size's rows are within). Wider rows take the
    /// 256-bit one-row loop.
    /// </summary>
    private const int MaxStackInputs = 16384;

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for one token, W 4-bit and x rounded to 16
    /// bits (x [W.Cols] int16, <paramref name="xScales"/> one per block of 32): per block, (q − 8) × x summed exactly in
    /// integers, then scaled by the weight's and the input's block scales. Adds into y when <paramref name="accumulate"/>
    /// is set. Weights are requested ahead as <typeparamref name="TPrefetch"/> says, as in the generated tiles.
    /// </summary>
    public static void MatMulInt16<TPrefetch>(in WeightMatrix w, ReadOnlySpan<short> x, ReadOnlySpan<float> xScales, Span<float> y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        KernelChecks.MatMulInt16(w, TensorDType.Q4, x.Length, xScales.Length, y.Length, rowStart, rowEnd);
        ref byte wr = ref MemoryMarshal.GetReference(w.AsQ4Span());
        ref short xr = ref MemoryMarshal.GetReference(x);
        ref float xsr = ref MemoryMarshal.GetReference(xScales);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated && Avx512BW.IsSupported && w.Cols <= MaxStackInputs)
        {
            MatMulInt16V512<TPrefetch>(ref wr, w.Cols, ref xr, ref xsr, ref yr, rowStart, rowEnd, accumulate);
        }
        else if (Vector256.IsHardwareAccelerated && Avx2.IsSupported)
        {
            MatMulInt16V256<TPrefetch>(ref wr, w.Cols, ref xr, ref xsr, ref yr, rowStart, rowEnd, accumulate);
        }
        else
        {
            MatMulInt16Scalar(w, x, xScales, y, rowStart, rowEnd, accumulate);
        }
    }

    /// <summary>
    /// 512 bits, four blocks per step: their 64 bytes loaded as 32 int16 lanes without widening. Lane L holds bytes 2L
    /// and 2L + 1 of block L / 8, so its four nibbles are values j, j + 1, j + 16 and j + 17 of that block
    /// (j = 2·(L mod 8)): masked, shifted by 8 and masked, shifted by 4 and masked, and shifted by 12. The inputs are
    /// arranged to match once per call, four vectors per step, with the sums that take the nibbles' offset of 8 out
    /// (8 · Σx per int32 lane). Per step and row: six shifts and masks, four <c>vpmaddwd</c>, three additions, one
    /// subtraction, one conversion and one FMA by the blocks' weight scale × input scale (made sixteen blocks at a time,
    /// spread by one permutation): 18 instructions per 128 weights and row, where two blocks per step with widening
    /// loads took 20, and 24 with per-pair scales (docs/benchmarks.md, changes 42 and 43: one-thread 4-bit decode on Zen 5
    /// +18%, then +12.5%). Blocks after the last whole four take <see cref="BlockSums"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulInt16V512<TPrefetch>(ref byte w, int n, ref short x, ref float xScales, ref float y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, values = n / 2, quads = blocks / 4;
        int tileBytes = RowTile * stride, lines = (tileBytes + 63) / 64, linesPerQuad = (lines + quads - 1) / Math.Max(1, quads);
        nuint fetch = (nuint)(Prefetch.TilesAhead(TPrefetch.AheadBytes, tileBytes) * tileBytes);

        // Per four blocks: the inputs of the four nibbles of each lane (128 values), then 8 · Σx per int32 lane.
        Span<short> arranged = stackalloc short[quads * 128];
        Span<int> offsets = stackalloc int[quads * 16];
        ref short xa = ref MemoryMarshal.GetReference(arranged);
        ref int ko = ref MemoryMarshal.GetReference(offsets);
        for (int q = 0; q < quads; q++)
        {
            for (int lane = 0; lane < 32; lane++)
            {
                int from = (((4 * q) + (lane / 8)) * Q4Block.Size) + (2 * (lane % 8));
                int to = (q * 128) + lane;
                Unsafe.Add(ref xa, to) = Unsafe.Add(ref x, from);
                Unsafe.Add(ref xa, to + 32) = Unsafe.Add(ref x, from + 1);
                Unsafe.Add(ref xa, to + 64) = Unsafe.Add(ref x, from + 16);
                Unsafe.Add(ref xa, to + 96) = Unsafe.Add(ref x, from + 17);
            }

            Vector512<short> ones = Vector512<short>.One;
            ref short at = ref Unsafe.Add(ref xa, q * 128);
            Vector512<int> sums = Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref at), ones) + Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref at, 32), ones)
                + Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref at, 64), ones) + Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref at, 96), ones);
            (sums * Q4Block.Offset).StoreUnsafe(ref ko, (nuint)(q * 16));
        }

        Vector512<ushort> nibble = Vector512.Create((ushort)0xF);
        Vector512<int> spread = Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        Vector512<ushort> shifts = Vector512.Create(Vector256<ushort>.Zero, Vector256.Create((ushort)4));
        Vector512<short> offset = Vector512.Create((short)Q4Block.Offset), mask = Vector512.Create((short)0xF);
        int r = rowStart;
        for (; r + RowTile <= rowEnd; r += RowTile)
        {
            ref byte w0 = ref Unsafe.Add(ref w, (nint)r * stride);
            ref byte w1 = ref Unsafe.Add(ref w0, stride);
            ref byte w2 = ref Unsafe.Add(ref w1, stride);
            ref byte w3 = ref Unsafe.Add(ref w2, stride);
            ref float s0 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w0, values));
            ref float s1 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w1, values));
            ref float s2 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w2, values));
            ref float s3 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w3, values));
            bool prefetch = r + (2 * RowTile) <= rowEnd;
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            int q = 0;

            // Sixteen blocks' scale products per row at a time, then eight, then four.
            for (; q + 4 <= quads; q += 4)
            {
                Vector512<float> xs = Vector512.LoadUnsafe(ref xScales, (nuint)(4 * q));
                ScaledQuads<TPrefetch>(
                    ref w0, ref w1, ref w2, ref w3, ref xa, ref ko, q, 4, prefetch, fetch, lines, linesPerQuad, nibble, spread,
                    Vector512.LoadUnsafe(ref s0, (nuint)(4 * q)) * xs, Vector512.LoadUnsafe(ref s1, (nuint)(4 * q)) * xs,
                    Vector512.LoadUnsafe(ref s2, (nuint)(4 * q)) * xs, Vector512.LoadUnsafe(ref s3, (nuint)(4 * q)) * xs,
                    ref a0, ref a1, ref a2, ref a3);
            }

            if (q + 2 <= quads)
            {
                Vector256<float> xs = Vector256.LoadUnsafe(ref xScales, (nuint)(4 * q));
                ScaledQuads<TPrefetch>(
                    ref w0, ref w1, ref w2, ref w3, ref xa, ref ko, q, 2, prefetch, fetch, lines, linesPerQuad, nibble, spread,
                    (Vector256.LoadUnsafe(ref s0, (nuint)(4 * q)) * xs).ToVector512Unsafe(), (Vector256.LoadUnsafe(ref s1, (nuint)(4 * q)) * xs).ToVector512Unsafe(),
                    (Vector256.LoadUnsafe(ref s2, (nuint)(4 * q)) * xs).ToVector512Unsafe(), (Vector256.LoadUnsafe(ref s3, (nuint)(4 * q)) * xs).ToVector512Unsafe(),
                    ref a0, ref a1, ref a2, ref a3);
                q += 2;
            }

            if (q < quads)
            {
                Vector128<float> xs = Vector128.LoadUnsafe(ref xScales, (nuint)(4 * q));
                ScaledQuads<TPrefetch>(
                    ref w0, ref w1, ref w2, ref w3, ref xa, ref ko, q, 1, prefetch, fetch, lines, linesPerQuad, nibble, spread,
                    (Vector128.LoadUnsafe(ref s0, (nuint)(4 * q)) * xs).ToVector256Unsafe().ToVector512Unsafe(), (Vector128.LoadUnsafe(ref s1, (nuint)(4 * q)) * xs).ToVector256Unsafe().ToVector512Unsafe(),
                    (Vector128.LoadUnsafe(ref s2, (nuint)(4 * q)) * xs).ToVector256Unsafe().ToVector512Unsafe(), (Vector128.LoadUnsafe(ref s3, (nuint)(4 * q)) * xs).ToVector256Unsafe().ToVector512Unsafe(),
                    ref a0, ref a1, ref a2, ref a3);
            }

            for (int b = 4 * quads; b < blocks; b++)
            {
                nuint at = (nuint)(b * Q4Block.PackedBytes);
                Vector512<short> xb = Vector512.LoadUnsafe(ref x, (nuint)(b * Q4Block.Size));
                float xs = Unsafe.Add(ref xScales, b);
                a0 = Vector512.FusedMultiplyAdd(BlockSums(ref w0, at, xb, shifts, mask, offset), Vector512.Create(Unsafe.Add(ref s0, b) * xs), a0);
                a1 = Vector512.FusedMultiplyAdd(BlockSums(ref w1, at, xb, shifts, mask, offset), Vector512.Create(Unsafe.Add(ref s1, b) * xs), a1);
                a2 = Vector512.FusedMultiplyAdd(BlockSums(ref w2, at, xb, shifts, mask, offset), Vector512.Create(Unsafe.Add(ref s2, b) * xs), a2);
                a3 = Vector512.FusedMultiplyAdd(BlockSums(ref w3, at, xb, shifts, mask, offset), Vector512.Create(Unsafe.Add(ref s3, b) * xs), a3);
            }

            Store(ref y, r, Vector512.Sum(a0), accumulate);
            Store(ref y, r + 1, Vector512.Sum(a1), accumulate);
            Store(ref y, r + 2, Vector512.Sum(a2), accumulate);
            Store(ref y, r + 3, Vector512.Sum(a3), accumulate);
        }

        for (; r < rowEnd; r++)
        {
            ref byte w0 = ref Unsafe.Add(ref w, (nint)r * stride);
            ref float s0 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w0, values));
            Vector512<float> a0 = Vector512<float>.Zero;
            for (int b = 0; b < blocks; b++)
            {
                Vector512<short> xb = Vector512.LoadUnsafe(ref x, (nuint)(b * Q4Block.Size));
                Vector512<float> sums = BlockSums(ref w0, (nuint)(b * Q4Block.PackedBytes), xb, shifts, mask, offset);
                a0 = Vector512.FusedMultiplyAdd(sums, Vector512.Create(Unsafe.Add(ref xScales, b) * Unsafe.Add(ref s0, b)), a0);
            }

            Store(ref y, r, Vector512.Sum(a0), accumulate);
        }
    }

    /// <summary>
    /// <paramref name="count"/> steps of four blocks from step <paramref name="first"/> for four rows, whose combined
    /// scales (weight scale × input scale, one lane per block from the first step's first block) are
    /// <paramref name="c0"/>…<paramref name="c3"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaledQuads<TPrefetch>(
        ref byte w0, ref byte w1, ref byte w2, ref byte w3, ref short xa, ref int ko, int first, int count,
        bool prefetch, nuint fetch, int lines, int linesPerQuad, Vector512<ushort> nibble, Vector512<int> spread,
        Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
        where TPrefetch : struct, IWeightPrefetch
    {
        Vector512<int> index = spread, four = Vector512.Create(4);
        for (int q = first, end = first + count; q < end; q++, index += four)
        {
            if (prefetch)
            {
                for (int line = q * linesPerQuad, last = Math.Min(line + linesPerQuad, lines); line < last; line++)
                {
                    TPrefetch.Line(ref w0, fetch + (nuint)(line * 64));
                }
            }

            nuint at = (nuint)(q * 64);
            ref short xq = ref Unsafe.Add(ref xa, q * 128);
            Vector512<short> x0 = Vector512.LoadUnsafe(ref xq), x1 = Vector512.LoadUnsafe(ref xq, 32), x2 = Vector512.LoadUnsafe(ref xq, 64), x3 = Vector512.LoadUnsafe(ref xq, 96);
            Vector512<int> k = Vector512.LoadUnsafe(ref ko, (nuint)(q * 16));
            a0 = Vector512.FusedMultiplyAdd(QuadSums(ref w0, at, x0, x1, x2, x3, k, nibble), Avx512F.PermuteVar16x32(c0, index), a0);
            a1 = Vector512.FusedMultiplyAdd(QuadSums(ref w1, at, x0, x1, x2, x3, k, nibble), Avx512F.PermuteVar16x32(c1, index), a1);
            a2 = Vector512.FusedMultiplyAdd(QuadSums(ref w2, at, x0, x1, x2, x3, k, nibble), Avx512F.PermuteVar16x32(c2, index), a2);
            a3 = Vector512.FusedMultiplyAdd(QuadSums(ref w3, at, x0, x1, x2, x3, k, nibble), Avx512F.PermuteVar16x32(c3, index), a3);
        }
    }

    /// <summary>Σ (q − 8)·x per int32 lane for four blocks (lanes 4b…4b + 3 block b's), as fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> QuadSums(ref byte row, nuint at, Vector512<short> x0, Vector512<short> x1, Vector512<short> x2, Vector512<short> x3, Vector512<int> offsets, Vector512<ushort> nibble)
    {
        Vector512<ushort> lanes = Vector512.LoadUnsafe(ref row, at).AsUInt16();
        Vector512<int> sums = Avx512BW.MultiplyAddAdjacent((lanes & nibble).AsInt16(), x0)
            + Avx512BW.MultiplyAddAdjacent(((lanes >>> 8) & nibble).AsInt16(), x1)
            + Avx512BW.MultiplyAddAdjacent(((lanes >>> 4) & nibble).AsInt16(), x2)
            + Avx512BW.MultiplyAddAdjacent((lanes >>> 12).AsInt16(), x3);
        return Avx512F.ConvertToVector512Single(sums - offsets);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> BlockSums(ref byte row, nuint at, Vector512<short> x, Vector512<ushort> shifts, Vector512<short> nibble, Vector512<short> offset)
    {
        Vector128<byte> packed = Vector128.LoadUnsafe(ref row, at);
        Vector512<ushort> both = Avx512BW.ConvertToVector512UInt16(Vector256.Create(packed, packed));
        Vector512<short> q = (Avx512BW.ShiftRightLogicalVariable(both, shifts).AsInt16() & nibble) - offset;
        return Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(q, x));
    }

    /// <summary>
    /// 256 bits, four rows at a time: per block, the inputs (values 0–15, then 16–31 of the block), the sums that take
    /// the nibbles' offset of 8 out (8 · Σx per pair of lanes, once per call) and, per row, its 16 bytes zero-extended
    /// to 16 int16 lanes, masked to the low nibbles and shifted to the high ones; two <c>vpmaddwd</c>, one subtraction,
    /// one conversion, and one FMA by the block's weight scale × input scale (eight blocks' in one multiply, spread by
    /// one permutation). Each row's sums are the one-row loop's (<see cref="MatMulInt16V256Rows{TPrefetch}"/>) bit for
    /// bit: the same integers per lane, the same products of scales, the same order of FMAs. Change 42 in
    /// docs/benchmarks.md: 4-bit decode +23% on Zen 5 at this width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulInt16V256<TPrefetch>(ref byte w, int n, ref short x, ref float xScales, ref float y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, values = n / 2;
        if (n > MaxStackInputs || rowEnd - rowStart < RowTile)
        {
            MatMulInt16V256Rows<TPrefetch>(ref w, n, ref x, ref xScales, ref y, rowStart, rowEnd, accumulate);
            return;
        }

        int tileBytes = RowTile * stride, lines = (tileBytes + 63) / 64, linesPerBlock = (lines + blocks - 1) / Math.Max(1, blocks);
        nuint fetch = (nuint)(Prefetch.TilesAhead(TPrefetch.AheadBytes, tileBytes) * tileBytes);

        // Per block: 8 · Σx per pair of int32 lanes, as the two vpmaddwd of a block sum them.
        Span<int> offsets = stackalloc int[blocks * 8];
        ref int ko = ref MemoryMarshal.GetReference(offsets);
        Vector256<short> ones = Vector256<short>.One;
        for (int b = 0; b < blocks; b++)
        {
            ref short xb = ref Unsafe.Add(ref x, b * Q4Block.Size);
            Vector256<int> sums = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref xb), ones) + Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref xb, 16), ones);
            (sums * Q4Block.Offset).StoreUnsafe(ref ko, (nuint)(b * 8));
        }

        Vector256<short> nibble = Vector256.Create((short)0xF);
        int r = rowStart;
        for (; r + RowTile <= rowEnd; r += RowTile)
        {
            ref byte w0 = ref Unsafe.Add(ref w, (nint)r * stride);
            ref byte w1 = ref Unsafe.Add(ref w0, stride);
            ref byte w2 = ref Unsafe.Add(ref w1, stride);
            ref byte w3 = ref Unsafe.Add(ref w2, stride);
            ref float s0 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w0, values));
            ref float s1 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w1, values));
            ref float s2 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w2, values));
            ref float s3 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w3, values));
            bool prefetch = r + (2 * RowTile) <= rowEnd;
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            Vector256<float> c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            Vector256<int> index = Vector256<int>.Zero;
            for (int b = 0; b < blocks; b++, index += Vector256<int>.One)
            {
                if ((b & 7) == 0)
                {
                    if (b + 8 <= blocks)
                    {
                        // Eight blocks' weight scale × input scale per row: the products the one-row loop makes.
                        Vector256<float> xs = Vector256.LoadUnsafe(ref xScales, (nuint)b);
                        c0 = Vector256.LoadUnsafe(ref s0, (nuint)b) * xs;
                        c1 = Vector256.LoadUnsafe(ref s1, (nuint)b) * xs;
                        c2 = Vector256.LoadUnsafe(ref s2, (nuint)b) * xs;
                        c3 = Vector256.LoadUnsafe(ref s3, (nuint)b) * xs;
                    }
                    else
                    {
                        // Fewer than eight blocks left: their products one by one, in lanes 0….
                        c0 = c1 = c2 = c3 = Vector256<float>.Zero;
                        for (int j = 0; b + j < blocks; j++)
                        {
                            float xs = Unsafe.Add(ref xScales, b + j);
                            c0 = c0.WithElement(j, Unsafe.Add(ref s0, b + j) * xs);
                            c1 = c1.WithElement(j, Unsafe.Add(ref s1, b + j) * xs);
                            c2 = c2.WithElement(j, Unsafe.Add(ref s2, b + j) * xs);
                            c3 = c3.WithElement(j, Unsafe.Add(ref s3, b + j) * xs);
                        }
                    }

                    index = Vector256<int>.Zero;
                }

                if (prefetch)
                {
                    // This block's share of the tile's lines, a fetch distance ahead (within the call's rows).
                    for (int line = b * linesPerBlock, last = Math.Min(line + linesPerBlock, lines); line < last; line++)
                    {
                        TPrefetch.Line(ref w0, fetch + (nuint)(line * 64));
                    }
                }

                nuint at = (nuint)(b * Q4Block.PackedBytes);
                ref short xb = ref Unsafe.Add(ref x, b * Q4Block.Size);
                Vector256<short> xl = Vector256.LoadUnsafe(ref xb), xh = Vector256.LoadUnsafe(ref xb, 16);
                Vector256<int> k = Vector256.LoadUnsafe(ref ko, (nuint)(b * 8));
                a0 = Vector256.FusedMultiplyAdd(BlockSums256(ref w0, at, xl, xh, k, nibble), Avx2.PermuteVar8x32(c0, index), a0);
                a1 = Vector256.FusedMultiplyAdd(BlockSums256(ref w1, at, xl, xh, k, nibble), Avx2.PermuteVar8x32(c1, index), a1);
                a2 = Vector256.FusedMultiplyAdd(BlockSums256(ref w2, at, xl, xh, k, nibble), Avx2.PermuteVar8x32(c2, index), a2);
                a3 = Vector256.FusedMultiplyAdd(BlockSums256(ref w3, at, xl, xh, k, nibble), Avx2.PermuteVar8x32(c3, index), a3);
            }

            Store(ref y, r, Vector256.Sum(a0), accumulate);
            Store(ref y, r + 1, Vector256.Sum(a1), accumulate);
            Store(ref y, r + 2, Vector256.Sum(a2), accumulate);
            Store(ref y, r + 3, Vector256.Sum(a3), accumulate);
        }

        if (r < rowEnd)
        {
            MatMulInt16V256Rows<TPrefetch>(ref w, n, ref x, ref xScales, ref y, r, rowEnd, accumulate);
        }
    }

    /// <summary>Σ (q − 8)·x per pair of lanes of one block (its 16 bytes), as fp32: the sums of q·x less <paramref name="offsets"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BlockSums256(ref byte row, nuint at, Vector256<short> xl, Vector256<short> xh, Vector256<int> offsets, Vector256<short> nibble)
    {
        Vector256<short> bytes = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref row, at));
        Vector256<int> sums = Avx2.MultiplyAddAdjacent(bytes & nibble, xl) + Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(bytes, 4), xh);
        return Avx.ConvertToVector256Single(sums - offsets);
    }

    /// <summary>
    /// 256 bits, one row at a time (the rows after the last tile of four, and rows too long for the stack): a block's
    /// 16 bytes zero-extended to 16 int16 lanes twice, once masked to the low nibbles (values 0–15) and once shifted to
    /// the high ones (values 16–31); minus 8, two <c>vpmaddwd</c>, one conversion and one FMA.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulInt16V256Rows<TPrefetch>(ref byte w, int n, ref short x, ref float xScales, ref float y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, values = n / 2;
        Vector256<short> nibble = Vector256.Create((short)0xF), offset = Vector256.Create((short)Q4Block.Offset);
        for (int r = rowStart; r < rowEnd; r++)
        {
            ref byte w0 = ref Unsafe.Add(ref w, (nint)r * stride);
            ref float s0 = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref w0, values));
            if (r + 1 < rowEnd)
            {
                for (int line = 0; line < stride; line += 64)
                {
                    TPrefetch.Line(ref w0, (nuint)(TPrefetch.AheadBytes + line));
                }
            }

            Vector256<float> a0 = Vector256<float>.Zero;
            for (int b = 0; b < blocks; b++)
            {
                Vector256<short> bytes = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref w0, (nuint)(b * Q4Block.PackedBytes)));
                Vector256<short> lo = (bytes & nibble) - offset;
                Vector256<short> hi = Avx2.ShiftRightLogical(bytes, 4) - offset;
                ref short xb = ref Unsafe.Add(ref x, b * Q4Block.Size);
                Vector256<int> sums = Avx2.MultiplyAddAdjacent(lo, Vector256.LoadUnsafe(ref xb)) + Avx2.MultiplyAddAdjacent(hi, Vector256.LoadUnsafe(ref xb, 16));
                a0 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(sums), Vector256.Create(Unsafe.Add(ref xScales, b) * Unsafe.Add(ref s0, b)), a0);
            }

            Store(ref y, r, Vector256.Sum(a0), accumulate);
        }
    }

    private static void MatMulInt16Scalar(in WeightMatrix w, ReadOnlySpan<short> x, ReadOnlySpan<float> xScales, Span<float> y, int rowStart, int rowEnd, bool accumulate)
    {
        const int half = Q4Block.Size / 2;
        for (int r = rowStart; r < rowEnd; r++)
        {
            ReadOnlySpan<byte> packed = w.Q4RowValues(r);
            ReadOnlySpan<float> scales = w.Q4RowScales(r);
            float sum = 0;
            for (int b = 0; b < scales.Length; b++)
            {
                int dot = 0;
                for (int i = 0; i < half; i++)
                {
                    byte two = packed[(b * Q4Block.PackedBytes) + i];
                    dot += (((two & 0xF) - Q4Block.Offset) * x[(b * Q4Block.Size) + i]) + (((two >> 4) - Q4Block.Offset) * x[(b * Q4Block.Size) + half + i]);
                }

                sum += scales[b] * xScales[b] * dot;
            }

            y[r] = accumulate ? y[r] + sum : sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref float y, int row, float sum, bool accumulate)
    {
        ref float target = ref Unsafe.Add(ref y, row);
        target = accumulate ? target + sum : sum;
    }
}
