using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// One-token products of 4-bit matrices (<see cref="TensorDType.Q4"/>) with inputs rounded to 8 bits: the products of
/// 4-bit decode. The inputs come rounded to 16 bits (<see cref="Int16Activations"/>, as 8-bit products take them) and
/// are rounded again to 8 bits per block of 32 when arranged (<see cref="Arrange"/>), as llama.cpp's Q4_0 products
/// round theirs (Q8_0); a nibble × byte pair then takes one byte lane, and <c>vpmaddubsw</c> or <c>vpdpbusd</c> sums
/// 64 of them per 256 bits where 16-bit inputs took twice the instructions (docs/benchmarks.md, change 57). The rows
/// store their blocks in groups of eight, four bytes of each in turn (<see cref="Q4Block"/>), so that the sums of a
/// group come out one int32 lane per block and take one conversion and one FMA by the blocks' scales, with no
/// permutation (change 62). Width-generic
/// (the loop bound is the row length), not generated: a one-token product streams its weights once, so it is bound by
/// memory and by the unpacking of nibbles, neither of which a constant width changes. A batch's rows take the same
/// products, each token summed as its one-token product (Q4Kernels.Tokens.cs); a prefill's rows are widened a chunk at
/// a time into the generated fp32 tiles (<see cref="Products{TKernels}"/>).
/// </summary>
internal static partial class Q4Kernels
{
    private const int RowTile = 4;

    /// <summary>Nibble offsets <see cref="Arrange"/> makes per block of 32 inputs: one per int32 lane of a block's sums.</summary>
    public const int OffsetsPerBlock = 4;

    /// <summary>The largest 8-bit input: a block's largest 16-bit magnitude maps to ±127.</summary>
    public const int MaxInt8 = 127;

    /// <summary>
    /// Blocks' worth of bytes the vector products read per load, which fixes the order of their arranged inputs: four
    /// at 512 bits (a group in two loads), two at 256 (a group in four), none without vectors (the scalar product
    /// reads the inputs in their plain order).
    /// </summary>
    public static int StepBlocks =>
        Vector512.IsHardwareAccelerated && Avx512BW.IsSupported ? 4
        : Vector256.IsHardwareAccelerated && Avx2.IsSupported ? 2
        : 0;

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for one token, W 4-bit and x rounded to 8
    /// bits and arranged for these kernels (<see cref="Int16Input"/>): per block, (q − 8) × x summed exactly in
    /// integers, then scaled by the weight's and the input's block scales. Adds into y when <paramref name="accumulate"/>
    /// is set. Weights are requested ahead as <typeparamref name="TPrefetch"/> says, as in the generated tiles.
    /// </summary>
    public static void MatMulInt8<TPrefetch>(in WeightMatrix w, Int16Input x, Span<float> y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        ArgumentNullException.ThrowIfNull(x);
        KernelChecks.MatMulInt16(w, TensorDType.Q4, x.Length, x.ArrangedScales.Length, y.Length, rowStart, rowEnd);
        RequireArranged(x);

        ref byte wr = ref MemoryMarshal.GetReference(w.AsQ4Span());
        ref sbyte xa = ref MemoryMarshal.GetReference(x.Arranged);
        ref float xsr = ref MemoryMarshal.GetReference(x.ArrangedScales);
        ref int ko = ref MemoryMarshal.GetReference(x.Offsets);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (StepBlocks == 4)
        {
            MatMulInt8V512<TPrefetch>(ref wr, w.Cols, ref xa, ref xsr, ref ko, ref yr, rowStart, rowEnd, accumulate);
        }
        else if (StepBlocks == 2 && AvxVnni.IsSupported)
        {
            MatMulInt8V256<TPrefetch, VnniGroupSums>(ref wr, w.Cols, ref xa, ref xsr, ref ko, ref yr, rowStart, rowEnd, accumulate);
        }
        else if (StepBlocks == 2)
        {
            MatMulInt8V256<TPrefetch, MaddGroupSums>(ref wr, w.Cols, ref xa, ref xsr, ref ko, ref yr, rowStart, rowEnd, accumulate);
        }
        else
        {
            MatMulInt8Scalar(w, x.Arranged[..x.Length], x.ArrangedScales, y, rowStart, rowEnd, accumulate);
        }
    }

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for each of the <see cref="Int16Input.Tokens"/>
    /// tokens of <paramref name="x"/>, token t's outputs at t · <paramref name="yStride"/> in <paramref name="y"/>: every
    /// (row, token) summed exactly as the one-token product sums it, so a token's outputs do not depend on the others it
    /// is computed with (a batch's rows equal their sessions' one-token steps, bit for bit). Each row's nibbles are
    /// unpacked once per group of up to four tokens.
    /// </summary>
    public static void MatMulInt8<TPrefetch>(in WeightMatrix w, Int16Input x, Span<float> y, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        ArgumentNullException.ThrowIfNull(x);
        int tokens = x.Tokens;
        if (tokens == 1)
        {
            MatMulInt8<TPrefetch>(w, x, y, rowStart, rowEnd, accumulate);
            return;
        }

        KernelChecks.MatMulInt16(w, TensorDType.Q4, x.Length, x.BlockStride, y.Length - ((tokens - 1) * yStride), rowStart, rowEnd);
        RequireArranged(x);

        if (yStride < rowEnd)
        {
            throw new ArgumentOutOfRangeException(nameof(yStride), $"Token outputs {yStride} apart overlap rows up to {rowEnd}.");
        }

        var tokenInputs = new TokenInputs(x);
        ref byte wr = ref MemoryMarshal.GetReference(w.AsQ4Span());
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (StepBlocks == 4)
        {
            MatMulTokensV512<TPrefetch>(ref wr, w.Cols, tokenInputs, ref yr, yStride, rowStart, rowEnd, accumulate);
        }
        else if (StepBlocks == 2 && AvxVnni.IsSupported)
        {
            MatMulTokensV256<TPrefetch, VnniGroupSums>(ref wr, w.Cols, tokenInputs, ref yr, yStride, rowStart, rowEnd, accumulate);
        }
        else if (StepBlocks == 2)
        {
            MatMulTokensV256<TPrefetch, MaddGroupSums>(ref wr, w.Cols, tokenInputs, ref yr, yStride, rowStart, rowEnd, accumulate);
        }
        else
        {
            for (int t = 0; t < tokens; t++)
            {
                MatMulInt8Scalar(
                    w, x.Arranged.Slice(t * x.Stride, x.Length), x.ArrangedScales.Slice(t * x.BlockStride, x.BlockStride), y[(t * yStride)..], rowStart, rowEnd, accumulate);
            }
        }
    }

    private static void RequireArranged(Int16Input x)
    {
        if (!x.IsArranged)
        {
            throw new ArgumentException("A 4-bit product needs its inputs arranged (Int16Input.Round with arrange set).", nameof(x));
        }
    }

    /// <summary>
    /// Rounds the 16-bit inputs <paramref name="x"/> (scales <paramref name="scales"/>) to 8 bits per block and arranges
    /// them for the vector products, which read a row's group of eight blocks (<see cref="Q4Block"/>) in loads of
    /// <see cref="StepBlocks"/> blocks' worth of bytes: a load's low nibbles are values 4c…4c + 3 of each block for its
    /// chunks c, its high nibbles values 16 + 4c…16 + 4c + 3. Per load, <paramref name="arranged"/> gets the inputs of
    /// its low nibbles, then those of its high ones, in the bytes' order; <paramref name="arrangedScales"/> one scale per
    /// block; and <paramref name="offsets"/> −8 · the sum of each block's inputs, which the products add to take the
    /// nibbles' offset out: a group's eight at 4g for its first block g (the next 24 are not used). Blocks after the last
    /// whole group, and all blocks without vectors, keep their plain order (values 0–15, then 16–31) and have
    /// <see cref="OffsetsPerBlock"/> offsets each, one per lane of their sums (lane i: values 4i…4i + 3 and
    /// 16 + 4i…16 + 4i + 3).
    /// </summary>
    public static void Arrange(ReadOnlySpan<short> x, ReadOnlySpan<float> scales, Span<sbyte> arranged, Span<float> arrangedScales, Span<int> offsets) =>
        ArrangeSteps(x, scales, arranged, arrangedScales, offsets, StepBlocks);

    /// <summary>
    /// The 256-bit product with the sums <typeparamref name="TSums"/> (AVX2 only), whatever width the dispatch would
    /// take: for tests, which compare the AVX-VNNI sums with the plain ones on every processor that has both.
    /// </summary>
    internal static void MatMulInt8V256<TSums>(in WeightMatrix w, Int16Input x, Span<float> y, int rowStart, int rowEnd)
        where TSums : struct, IGroupSums
    {
        KernelChecks.MatMulInt16(w, TensorDType.Q4, x.Length, x.ArrangedScales.Length, y.Length, rowStart, rowEnd);
        x.ArrangeFor(2);
        MatMulInt8V256<TemporalPrefetch, TSums>(
            ref MemoryMarshal.GetReference(w.AsQ4Span()), w.Cols, ref MemoryMarshal.GetReference(x.Arranged), ref MemoryMarshal.GetReference(x.ArrangedScales),
            ref MemoryMarshal.GetReference(x.Offsets), ref MemoryMarshal.GetReference(y), rowStart, rowEnd, accumulate: false);
    }

    /// <summary>
    /// The 256-bit product of several tokens with the sums <typeparamref name="TSums"/> (AVX2 only), whatever width the
    /// dispatch would take, over every row: for tests. Arranges <paramref name="x"/> for it.
    /// </summary>
    internal static void MatMulTokensV256<TSums>(in WeightMatrix w, Int16Input x, Span<float> y, int yStride)
        where TSums : struct, IGroupSums
    {
        KernelChecks.MatMulInt16(w, TensorDType.Q4, x.Length, x.BlockStride, y.Length - ((x.Tokens - 1) * yStride), 0, w.Rows);
        x.ArrangeFor(2);
        MatMulTokensV256<TemporalPrefetch, TSums>(
            ref MemoryMarshal.GetReference(w.AsQ4Span()), w.Cols, new TokenInputs(x), ref MemoryMarshal.GetReference(y), yStride, 0, w.Rows, accumulate: false);
    }

    /// <summary>
    /// <see cref="Arrange"/> for kernels that read <paramref name="stepBlocks"/> blocks' worth of bytes per load (0 or 1:
    /// every block in its plain order). Per block the 8-bit rounding is scale8 = scale · m / 127 and
    /// q8 = round(q16 · (127 / m)), ties to even, m the block's largest |q16| (a block of zeros keeps zeros and scale 0; a
    /// non-finite scale stays non-finite).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ArrangeSteps(ReadOnlySpan<short> x, ReadOnlySpan<float> scales, Span<sbyte> arranged, Span<float> arrangedScales, Span<int> offsets, int stepBlocks)
    {
        int blocks = x.Length / Q4Block.Size;
        if (x.Length % Q4Block.Size != 0 || scales.Length < blocks || arranged.Length < x.Length || arrangedScales.Length < blocks || offsets.Length < blocks * OffsetsPerBlock)
        {
            throw new ArgumentException(
                $"Arranging {x.Length} 16-bit inputs ({blocks} blocks, {scales.Length} scales) needs room for {x.Length} values, {blocks} scales and {blocks * OffsetsPerBlock} offsets; got {arranged.Length}, {arrangedScales.Length} and {offsets.Length}.");
        }

        int grouped = stepBlocks >= 2 ? blocks / Q4Block.GroupBlocks * Q4Block.GroupBlocks : 0;
        ref sbyte ar = ref MemoryMarshal.GetReference(arranged);
        ref int ko = ref MemoryMarshal.GetReference(offsets);
        int b = 0;
        if (Avx2.IsSupported)
        {
            ref short xr = ref MemoryMarshal.GetReference(x);
            ref float sr = ref MemoryMarshal.GetReference(scales);
            ref float asr = ref MemoryMarshal.GetReference(arrangedScales);
            for (; b < grouped; b += Q4Block.GroupBlocks)
            {
                RoundGroup256(
                    ref Unsafe.Add(ref xr, b * Q4Block.Size), ref Unsafe.Add(ref sr, b), ref Unsafe.Add(ref ar, b * Q4Block.Size), ref Unsafe.Add(ref asr, b),
                    ref Unsafe.Add(ref ko, OffsetsPerBlock * b), stepBlocks);
            }
        }

        Span<sbyte> plain = stackalloc sbyte[Q4Block.Size];
        Span<int> lanes = stackalloc int[OffsetsPerBlock];
        for (; b < grouped; b++)
        {
            // Without AVX2 (tests arrange for every width on every machine): rounded in plain order, then each chunk of
            // four inputs to its place (ChunkAt) and the lanes' offsets summed.
            arrangedScales[b] = RoundBlock(x.Slice(b * Q4Block.Size, Q4Block.Size), scales[b], ref plain[0], ref plain[16], lanes);
            int group = b / Q4Block.GroupBlocks * Q4Block.GroupBlocks, j = b - group;
            ref sbyte at = ref Unsafe.Add(ref ar, (group * Q4Block.Size) + (4 * j));
            for (int c = 0; c < 4; c++)
            {
                int low = ChunkAt(c, stepBlocks);
                Unsafe.WriteUnaligned(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref at, low)), Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref plain[4 * c])));
                Unsafe.WriteUnaligned(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref at, low + (16 * stepBlocks))), Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref plain[16 + (4 * c)])));
            }

            Unsafe.Add(ref ko, (OffsetsPerBlock * group) + j) = lanes[0] + lanes[1] + lanes[2] + lanes[3];
        }

        for (; b < blocks; b++)
        {
            ref sbyte at = ref Unsafe.Add(ref ar, b * Q4Block.Size);
            arrangedScales[b] = RoundBlock(
                x.Slice(b * Q4Block.Size, Q4Block.Size), scales[b], ref at, ref Unsafe.Add(ref at, 16), offsets.Slice(b * OffsetsPerBlock, OffsetsPerBlock));
        }
    }

    /// <summary>
    /// Where the inputs of chunk <paramref name="c"/> (values 4c…4c + 3) of a group's first block lie in its arranged
    /// inputs for loads of <paramref name="stepBlocks"/> (2 or 4) blocks' worth of bytes: a load holds
    /// stepBlocks / 2 chunks, its low nibbles' inputs (32 bytes a chunk) then its high ones'. Block j's are 4j further.
    /// </summary>
    private static int ChunkAt(int c, int stepBlocks)
    {
        int chunksPerLoad = stepBlocks / 2;
        return (c / chunksPerLoad * 64 * chunksPerLoad) + (c % chunksPerLoad * 32);
    }

    /// <summary>Reads back the plain order of inputs that <see cref="ArrangeSteps"/> arranged for <paramref name="stepBlocks"/>.</summary>
    internal static void ReadArranged(ReadOnlySpan<sbyte> arranged, int stepBlocks, Span<sbyte> values)
    {
        int blocks = arranged.Length / Q4Block.Size;
        int grouped = stepBlocks >= 2 ? blocks / Q4Block.GroupBlocks * Q4Block.GroupBlocks : 0;
        for (int b = 0; b < blocks; b++)
        {
            if (b >= grouped)
            {
                arranged.Slice(b * Q4Block.Size, Q4Block.Size).CopyTo(values.Slice(b * Q4Block.Size, Q4Block.Size));
                continue;
            }

            int group = b / Q4Block.GroupBlocks * Q4Block.GroupBlocks;
            ReadOnlySpan<sbyte> at = arranged[((group * Q4Block.Size) + (4 * (b - group)))..];
            for (int c = 0; c < 4; c++)
            {
                int low = ChunkAt(c, stepBlocks);
                at.Slice(low, 4).CopyTo(values.Slice((b * Q4Block.Size) + (4 * c), 4));
                at.Slice(low + (16 * stepBlocks), 4).CopyTo(values.Slice((b * Q4Block.Size) + 16 + (4 * c), 4));
            }
        }
    }

    /// <summary>
    /// One block of 16-bit inputs rounded to 8 bits, values 0–15 written at <paramref name="low"/> and 16–31 at
    /// <paramref name="high"/>, with its offsets; returns its 8-bit scale.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float RoundBlock(ReadOnlySpan<short> block, float scale, ref sbyte low, ref sbyte high, Span<int> offsets)
    {
        ref short br = ref MemoryMarshal.GetReference(block);
        ref int kr = ref MemoryMarshal.GetReference(offsets);
        if (Avx2.IsSupported)
        {
            // The offsets from pair and quad sums (lane i: values 4i…4i + 3, then 16 + 4i…).
            Vector256<sbyte> q = RoundBlock256(ref br, scale, out float scale8);
            q.GetLower().StoreUnsafe(ref low);
            q.GetUpper().StoreUnsafe(ref high);
            Vector256<int> quads = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Vector256<byte>.One, q), Vector256<short>.One);
            ((quads.GetLower() + quads.GetUpper()) * -Q4Block.Offset).StoreUnsafe(ref kr);
            return scale8;
        }
        else
        {
            int max = 0;
            for (int i = 0; i < Q4Block.Size; i++)
            {
                max = Math.Max(max, Math.Abs((int)Unsafe.Add(ref br, i)));
            }

            float factor = max > 0 ? (float)MaxInt8 / max : 0;
            for (int i = 0; i < 16; i++)
            {
                Unsafe.Add(ref low, i) = (sbyte)MathF.Round(Unsafe.Add(ref br, i) * factor);
                Unsafe.Add(ref high, i) = (sbyte)MathF.Round(Unsafe.Add(ref br, i + 16) * factor);
            }

            for (int lane = 0; lane < OffsetsPerBlock; lane++)
            {
                int sum = 0;
                for (int j = 4 * lane; j < (4 * lane) + 4; j++)
                {
                    sum += Unsafe.Add(ref low, j) + Unsafe.Add(ref high, j);
                }

                Unsafe.Add(ref kr, lane) = -Q4Block.Offset * sum;
            }

            return scale * (max / (float)MaxInt8);
        }
    }

    /// <summary>
    /// One block of 16-bit inputs at <paramref name="br"/> rounded to 8 bits (AVX2), values 0–31 in order, with its
    /// 8-bit scale. The largest |q16| (at most 32767: Int16Activations never makes −32768, Int16Input.Set refuses it) is
    /// kept in the vector (a Math.Max of two lanes is a branch on the data); the values times 127 / max are rounded to
    /// even by vcvtps2dq (Vector256.ConvertToInt32 adds a saturation fix-up the values, at most ±127.5, never need) and
    /// narrowed with vpackssdw, vpacksswb and one vpermd.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> RoundBlock256(ref short br, float scale, out float scale8)
    {
        Vector256<int> q0 = Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref br)), q1 = Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref br, 8));
        Vector256<int> q2 = Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref br, 16)), q3 = Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref br, 24));
        Vector256<int> magnitudes = Vector256.Max(Vector256.Max(Avx2.Abs(q0).AsInt32(), Avx2.Abs(q1).AsInt32()), Vector256.Max(Avx2.Abs(q2).AsInt32(), Avx2.Abs(q3).AsInt32()));
        int max = Int16Activations.LaneMax(magnitudes);
        float factor = max > 0 ? (float)MaxInt8 / max : 0;
        Vector256<short> p01 = Avx2.PackSignedSaturate(Round(q0, factor), Round(q1, factor));
        Vector256<short> p23 = Avx2.PackSignedSaturate(Round(q2, factor), Round(q3, factor));
        scale8 = scale * (max / (float)MaxInt8);
        return Avx2.PermuteVar8x32(Avx2.PackSignedSaturate(p01, p23).AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<int> Round(Vector256<int> values, float factor) => Avx.ConvertToVector256Int32(Avx.ConvertToVector256Single(values) * factor);
    }

    /// <summary>
    /// The eight blocks of a group from <paramref name="x"/> rounded to 8 bits and arranged (AVX2): each block's
    /// 32 values as eight int32 chunks (lows 0–3, highs 0–3), the eight blocks' chunks transposed in registers so that
    /// chunk c of every block is one vector, stored where <see cref="ChunkAt"/> says; the offsets from those vectors.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RoundGroup256(ref short x, ref float scales, ref sbyte arranged, ref float arrangedScales, ref int offsets, int stepBlocks)
    {
        const int size = Q4Block.Size;
        Vector256<int> q0 = RoundBlock256(ref x, scales, out arrangedScales).AsInt32();
        Vector256<int> q1 = RoundBlock256(ref Unsafe.Add(ref x, size), Unsafe.Add(ref scales, 1), out Unsafe.Add(ref arrangedScales, 1)).AsInt32();
        Vector256<int> q2 = RoundBlock256(ref Unsafe.Add(ref x, 2 * size), Unsafe.Add(ref scales, 2), out Unsafe.Add(ref arrangedScales, 2)).AsInt32();
        Vector256<int> q3 = RoundBlock256(ref Unsafe.Add(ref x, 3 * size), Unsafe.Add(ref scales, 3), out Unsafe.Add(ref arrangedScales, 3)).AsInt32();
        Vector256<int> q4 = RoundBlock256(ref Unsafe.Add(ref x, 4 * size), Unsafe.Add(ref scales, 4), out Unsafe.Add(ref arrangedScales, 4)).AsInt32();
        Vector256<int> q5 = RoundBlock256(ref Unsafe.Add(ref x, 5 * size), Unsafe.Add(ref scales, 5), out Unsafe.Add(ref arrangedScales, 5)).AsInt32();
        Vector256<int> q6 = RoundBlock256(ref Unsafe.Add(ref x, 6 * size), Unsafe.Add(ref scales, 6), out Unsafe.Add(ref arrangedScales, 6)).AsInt32();
        Vector256<int> q7 = RoundBlock256(ref Unsafe.Add(ref x, 7 * size), Unsafe.Add(ref scales, 7), out Unsafe.Add(ref arrangedScales, 7)).AsInt32();

        // 8 × 8 int32 transpose: row i of the result is chunk i of blocks 0–7 (i < 4 the lows' chunk i, else the highs').
        Vector256<long> t0 = Avx2.UnpackLow(q0, q1).AsInt64(), t1 = Avx2.UnpackHigh(q0, q1).AsInt64();
        Vector256<long> t2 = Avx2.UnpackLow(q2, q3).AsInt64(), t3 = Avx2.UnpackHigh(q2, q3).AsInt64();
        Vector256<long> t4 = Avx2.UnpackLow(q4, q5).AsInt64(), t5 = Avx2.UnpackHigh(q4, q5).AsInt64();
        Vector256<long> t6 = Avx2.UnpackLow(q6, q7).AsInt64(), t7 = Avx2.UnpackHigh(q6, q7).AsInt64();
        Vector256<long> u0 = Avx2.UnpackLow(t0, t2), u1 = Avx2.UnpackHigh(t0, t2), u2 = Avx2.UnpackLow(t1, t3), u3 = Avx2.UnpackHigh(t1, t3);
        Vector256<long> u4 = Avx2.UnpackLow(t4, t6), u5 = Avx2.UnpackHigh(t4, t6), u6 = Avx2.UnpackLow(t5, t7), u7 = Avx2.UnpackHigh(t5, t7);
        int high = 16 * stepBlocks;
        Vector256<short> pairs = Chunk(u0, u4, highs: false, ref arranged, ChunkAt(0, stepBlocks));
        pairs += Chunk(u0, u4, highs: true, ref arranged, ChunkAt(0, stepBlocks) + high);
        pairs += Chunk(u1, u5, highs: false, ref arranged, ChunkAt(1, stepBlocks));
        pairs += Chunk(u1, u5, highs: true, ref arranged, ChunkAt(1, stepBlocks) + high);
        pairs += Chunk(u2, u6, highs: false, ref arranged, ChunkAt(2, stepBlocks));
        pairs += Chunk(u2, u6, highs: true, ref arranged, ChunkAt(2, stepBlocks) + high);
        pairs += Chunk(u3, u7, highs: false, ref arranged, ChunkAt(3, stepBlocks));
        pairs += Chunk(u3, u7, highs: true, ref arranged, ChunkAt(3, stepBlocks) + high);
        (Avx2.MultiplyAddAdjacent(pairs, Vector256<short>.One) * -Q4Block.Offset).StoreUnsafe(ref offsets);

        // Stores one chunk's vector and gives its pair sums per block (at most 8 · 2 · 127 in magnitude once added).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<short> Chunk(Vector256<long> lower, Vector256<long> upper, bool highs, ref sbyte arranged, int at)
        {
            // The lows' chunk from both inputs' lower halves, the highs' from their upper halves.
            Vector256<sbyte> chunk = (highs ? Avx2.Permute2x128(lower, upper, 0x31) : Avx2.Permute2x128(lower, upper, 0x20)).AsSByte();
            chunk.StoreUnsafe(ref arranged, (nuint)at);
            return Avx2.MultiplyAddAdjacent(Vector256<byte>.One, chunk);
        }
    }

    private static void MatMulInt8Scalar(in WeightMatrix w, ReadOnlySpan<sbyte> x, ReadOnlySpan<float> xScales, Span<float> y, int rowStart, int rowEnd, bool accumulate)
    {
        const int half = Q4Block.Size / 2;
        int blocks = w.Cols / Q4Block.Size, grouped = blocks / Q4Block.GroupBlocks * Q4Block.GroupBlocks;
        for (int r = rowStart; r < rowEnd; r++)
        {
            ReadOnlySpan<byte> packed = w.Q4RowValues(r);
            ReadOnlySpan<float> scales = w.Q4RowScales(r);
            float sum = 0;
            for (int b = 0; b < scales.Length; b++)
            {
                // Byte i of block b (Q4Block.ByteOffset without its divisions per byte).
                bool inGroup = b < grouped;
                int start = inGroup ? (b / Q4Block.GroupBlocks * Q4Block.GroupBytes) + (b % Q4Block.GroupBlocks * 4) : b * Q4Block.PackedBytes;
                int dot = 0;
                for (int i = 0; i < half; i++)
                {
                    byte two = packed[start + (inGroup ? ((i >> 2) * 32) + (i & 3) : i)];
                    dot += (((two & 0xF) - Q4Block.Offset) * x[(b * Q4Block.Size) + i]) + (((two >> 4) - Q4Block.Offset) * x[(b * Q4Block.Size) + half + i]);
                }

                sum += scales[b] * xScales[b] * dot;
            }

            y[r] = accumulate ? y[r] + sum : sum;
        }
    }

    /// <summary>Bytes of a 4-row tile per four blocks of each row: 64 bytes of values and 16 of scales a row (five lines); a group of eight blocks is two.</summary>
    private const int QuadTileBytes = RowTile * 4 * (Q4Block.PackedBytes + sizeof(float));

    /// <summary>
    /// Requests one even share of the tile a fetch distance ahead, <see cref="QuadTileBytes"/> from
    /// <paramref name="ahead"/> bytes past the tile's start, as five requests without a loop: two per group of eight
    /// blocks, so that the tile is requested whole by the end of its rows' whole groups. Against a loop over the tile's
    /// lines (change 47), 0.1B 4-bit decode 1.027–1.037 on 1 thread and 1.136–1.175 in 3 of 4 runs on 2, 512-bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchShare<TPrefetch>(ref byte tile, nuint ahead)
        where TPrefetch : struct, IWeightPrefetch
    {
        TPrefetch.Line(ref tile, ahead);
        TPrefetch.Line(ref tile, ahead + 64);
        TPrefetch.Line(ref tile, ahead + 128);
        TPrefetch.Line(ref tile, ahead + 192);
        TPrefetch.Line(ref tile, ahead + 256);
    }

    /// <summary>The share of a tile a fetch distance ahead that its rows' group <paramref name="g"/> requests: two of <see cref="PrefetchShare{TPrefetch}"/>'s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchGroup<TPrefetch>(ref byte tile, nuint fetch, int g)
        where TPrefetch : struct, IWeightPrefetch
    {
        PrefetchShare<TPrefetch>(ref tile, fetch + (nuint)(2 * g * QuadTileBytes));
        PrefetchShare<TPrefetch>(ref tile, fetch + (nuint)(((2 * g) + 1) * QuadTileBytes));
    }

    /// <summary>
    /// Requests the lines of a tile a fetch distance ahead from <paramref name="covered"/> bytes into it to its end
    /// (<paramref name="tileBytes"/>): the part after the last whole group of each row, which the groups' requests
    /// (<see cref="QuadTileBytes"/> twice each) leave out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchRest<TPrefetch>(ref byte tile, nuint fetch, int covered, int tileBytes)
        where TPrefetch : struct, IWeightPrefetch
    {
        for (int at = covered; at < tileBytes; at += 64)
        {
            TPrefetch.Line(ref tile, fetch + (nuint)at);
        }
    }

    /// <summary>
    /// Σ (q − 8)·x per int32 lane of one block taken alone (lane i: values 4i…4i + 3 and 16 + 4i…16 + 4i + 3), as
    /// fp32: the blocks after a row's last whole group, at every width and in every token pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> BlockSums(ref byte row, nuint at, ref sbyte xb, ref int kb)
    {
        Vector128<byte> packed = Vector128.LoadUnsafe(ref row, at), nibble = Vector128.Create((byte)0xF);
        Vector128<short> pairs = Ssse3.MultiplyAddAdjacent(packed & nibble, Vector128.LoadUnsafe(ref xb))
            + Ssse3.MultiplyAddAdjacent((packed.AsUInt16() >>> 4).AsByte() & nibble, Vector128.LoadUnsafe(ref xb, 16));
        return Sse2.ConvertToVector128Single(Sse2.MultiplyAddAdjacent(pairs, Vector128<short>.One) + Vector128.LoadUnsafe(ref kb));
    }

    /// <summary>
    /// Blocks [<paramref name="from"/>, <paramref name="blocks"/>) of a tile's four rows (weight scales
    /// <paramref name="s0"/>…<paramref name="s3"/>), after their last whole group, each alone (<see cref="BlockSums"/>),
    /// into the rows' sums: the one-token products' tail at both widths.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AloneBlocks(
        ref byte w0, ref byte w1, ref byte w2, ref byte w3, ref float s0, ref float s1, ref float s2, ref float s3, ref sbyte xa, ref float xScales, ref int ko,
        int from, int blocks, ref Vector256<float> a0, ref Vector256<float> a1, ref Vector256<float> a2, ref Vector256<float> a3)
    {
        for (int b = from; b < blocks; b++)
        {
            nuint at = (nuint)(b * Q4Block.PackedBytes);
            ref sbyte xb = ref Unsafe.Add(ref xa, b * Q4Block.Size);
            ref int kb = ref Unsafe.Add(ref ko, b * OffsetsPerBlock);
            float xs = Unsafe.Add(ref xScales, b);
            a0 = Vector256.FusedMultiplyAdd(BlockSums(ref w0, at, ref xb, ref kb).ToVector256(), Vector256.Create(Unsafe.Add(ref s0, b) * xs), a0);
            a1 = Vector256.FusedMultiplyAdd(BlockSums(ref w1, at, ref xb, ref kb).ToVector256(), Vector256.Create(Unsafe.Add(ref s1, b) * xs), a1);
            a2 = Vector256.FusedMultiplyAdd(BlockSums(ref w2, at, ref xb, ref kb).ToVector256(), Vector256.Create(Unsafe.Add(ref s2, b) * xs), a2);
            a3 = Vector256.FusedMultiplyAdd(BlockSums(ref w3, at, ref xb, ref kb).ToVector256(), Vector256.Create(Unsafe.Add(ref s3, b) * xs), a3);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref float y, int row, float sum, bool accumulate)
    {
        ref float target = ref Unsafe.Add(ref y, row);
        target = accumulate ? target + sum : sum;
    }
}
