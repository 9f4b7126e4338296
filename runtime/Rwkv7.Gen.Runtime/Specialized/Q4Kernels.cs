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
/// nibbles, neither of which a constant width changes. A batch's rows take the same products, each token summed as
/// its one-token product (Q4Kernels.Tokens.cs); a prefill's rows are widened a chunk at a time into the generated
/// fp32 tiles (<see cref="Products{TKernels}"/>).
/// </summary>
internal static partial class Q4Kernels
{
    private const int RowTile = 4;

    /// <summary>Nibble offsets <see cref="Arrange"/> makes per block of 32 inputs: one per pair of int16 lanes.</summary>
    public const int OffsetsPerBlock = 4;

    /// <summary>
    /// Blocks the vector products read per step from one plain load, which fixes the order of their arranged inputs:
    /// four at 512 bits, two at 256, none without vectors (the scalar product reads the plain inputs).
    /// </summary>
    public static int StepBlocks =>
        Vector512.IsHardwareAccelerated && Avx512BW.IsSupported ? 4
        : Vector256.IsHardwareAccelerated && Avx2.IsSupported ? 2
        : 0;

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for one token, W 4-bit and x rounded to 16
    /// bits and arranged for these kernels (<see cref="Int16Input"/>): per block, (q − 8) × x summed exactly in
    /// integers, then scaled by the weight's and the input's block scales. Adds into y when <paramref name="accumulate"/>
    /// is set. Weights are requested ahead as <typeparamref name="TPrefetch"/> says, as in the generated tiles.
    /// </summary>
    public static void MatMulInt16<TPrefetch>(in WeightMatrix w, Int16Input x, Span<float> y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        ArgumentNullException.ThrowIfNull(x);
        KernelChecks.MatMulInt16(w, TensorDType.Q4, x.Length, x.Scales.Length, y.Length, rowStart, rowEnd);
        RequireArranged(x);

        ref byte wr = ref MemoryMarshal.GetReference(w.AsQ4Span());
        ref short xr = ref MemoryMarshal.GetReference(x.Values);
        ref float xsr = ref MemoryMarshal.GetReference(x.Scales);
        ref short xa = ref MemoryMarshal.GetReference(x.Arranged);
        ref int ko = ref MemoryMarshal.GetReference(x.Offsets);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (StepBlocks == 4)
        {
            MatMulInt16V512<TPrefetch>(ref wr, w.Cols, ref xr, ref xsr, ref xa, ref ko, ref yr, rowStart, rowEnd, accumulate);
        }
        else if (StepBlocks == 2 && AvxVnni.IsSupported)
        {
            MatMulInt16V256<TPrefetch, VnniPairSums>(ref wr, w.Cols, ref xr, ref xsr, ref xa, ref ko, ref yr, rowStart, rowEnd, accumulate);
        }
        else if (StepBlocks == 2)
        {
            MatMulInt16V256<TPrefetch, MaddPairSums>(ref wr, w.Cols, ref xr, ref xsr, ref xa, ref ko, ref yr, rowStart, rowEnd, accumulate);
        }
        else
        {
            MatMulInt16Scalar(w, x.Values, x.Scales, y, rowStart, rowEnd, accumulate);
        }
    }

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for each of the <see cref="Int16Input.Tokens"/>
    /// tokens of <paramref name="x"/>, token t's outputs at t · <paramref name="yStride"/> in <paramref name="y"/>: every
    /// (row, token) summed exactly as the one-token product sums it, so a token's outputs do not depend on the others it
    /// is computed with (a batch's rows equal their sessions' one-token steps, bit for bit). Each row's nibbles are
    /// unpacked once per group of up to four tokens.
    /// </summary>
    public static void MatMulInt16<TPrefetch>(in WeightMatrix w, Int16Input x, Span<float> y, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        ArgumentNullException.ThrowIfNull(x);
        int tokens = x.Tokens;
        if (tokens == 1)
        {
            MatMulInt16<TPrefetch>(w, x, y, rowStart, rowEnd, accumulate);
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
            MatMulTokensV256<TPrefetch, VnniPairSums>(ref wr, w.Cols, tokenInputs, ref yr, yStride, rowStart, rowEnd, accumulate);
        }
        else if (StepBlocks == 2)
        {
            MatMulTokensV256<TPrefetch, MaddPairSums>(ref wr, w.Cols, tokenInputs, ref yr, yStride, rowStart, rowEnd, accumulate);
        }
        else
        {
            for (int t = 0; t < tokens; t++)
            {
                MatMulInt16Scalar(
                    w, x.Values.Slice(t * x.Stride, x.Length), x.Scales.Slice(t * x.BlockStride, x.BlockStride), y[(t * yStride)..], rowStart, rowEnd, accumulate);
            }
        }
    }

    private static void RequireArranged(Int16Input x)
    {
        if (!x.IsArranged)
        {
            throw new ArgumentException("A 4-bit product needs its 16-bit inputs arranged (Int16Input.Round with arrange set).", nameof(x));
        }
    }

    /// <summary>
    /// Arranges the 16-bit inputs <paramref name="x"/> for the vector products, which read <see cref="StepBlocks"/>
    /// blocks per step from one plain load as 8 · <see cref="StepBlocks"/> int16 lanes: lane L holds bytes 2L and 2L + 1
    /// of the step's block L / 8, whose nibbles are values j, j + 1, j + 16 and j + 17 of that block (j = 2·(L mod 8)).
    /// Per step, <paramref name="arranged"/> gets four vectors of inputs (those values for every lane, in that order),
    /// and per block <paramref name="offsets"/> gets <see cref="OffsetsPerBlock"/> int32s, one per pair of lanes: −8 · the
    /// sum of the inputs those lanes take, which the products add to take the nibbles' offset out. Blocks after the last whole
    /// step are left out (the products read them from <paramref name="x"/>). Per block: two loads, two in-lane byte
    /// shuffles and two 64-bit permutations put the even and odd values of each half side by side, two
    /// <c>vpmaddwd</c> and one horizontal addition make the offsets.
    /// </summary>
    public static void Arrange(ReadOnlySpan<short> x, Span<short> arranged, Span<int> offsets) => ArrangeSteps(x, arranged, offsets, StepBlocks);

    /// <summary>
    /// The 256-bit product with the sums <typeparamref name="TSums"/> (AVX2 only), whatever width the dispatch would
    /// take: for tests, which compare the AVX-VNNI sums with the plain ones on every processor that has both.
    /// </summary>
    internal static void MatMulInt16V256<TSums>(in WeightMatrix w, ReadOnlySpan<short> x, ReadOnlySpan<float> xScales, Span<float> y, int rowStart, int rowEnd)
        where TSums : struct, IPairSums
    {
        KernelChecks.MatMulInt16(w, TensorDType.Q4, x.Length, xScales.Length, y.Length, rowStart, rowEnd);
        short[] arranged = new short[x.Length];
        int[] offsets = new int[x.Length / Q4Block.Size * OffsetsPerBlock];
        ArrangeSteps(x, arranged, offsets, 2);
        MatMulInt16V256<TemporalPrefetch, TSums>(
            ref MemoryMarshal.GetReference(w.AsQ4Span()), w.Cols, ref MemoryMarshal.GetReference(x), ref MemoryMarshal.GetReference(xScales),
            ref arranged[0], ref offsets[0], ref MemoryMarshal.GetReference(y), rowStart, rowEnd, accumulate: false);
    }

    /// <summary>
    /// The 256-bit product of several tokens with the sums <typeparamref name="TSums"/> (AVX2 only), whatever width the
    /// dispatch would take, over every row: for tests. Arranges <paramref name="x"/> for it.
    /// </summary>
    internal static void MatMulTokensV256<TSums>(in WeightMatrix w, Int16Input x, Span<float> y, int yStride)
        where TSums : struct, IPairSums
    {
        KernelChecks.MatMulInt16(w, TensorDType.Q4, x.Length, x.BlockStride, y.Length - ((x.Tokens - 1) * yStride), 0, w.Rows);
        x.ArrangeFor(2);
        MatMulTokensV256<TemporalPrefetch, TSums>(
            ref MemoryMarshal.GetReference(w.AsQ4Span()), w.Cols, new TokenInputs(x), ref MemoryMarshal.GetReference(y), yStride, 0, w.Rows, accumulate: false);
    }

    /// <summary><see cref="Arrange"/> for kernels that read <paramref name="perStep"/> blocks per step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ArrangeSteps(ReadOnlySpan<short> x, Span<short> arranged, Span<int> offsets, int perStep)
    {
        if (perStep == 0)
        {
            return;
        }

        int blocks = x.Length / Q4Block.Size / perStep * perStep;
        if (arranged.Length < blocks * Q4Block.Size || offsets.Length < blocks * OffsetsPerBlock)
        {
            throw new ArgumentException(
                $"Arranging {blocks} blocks of 16-bit inputs needs room for {blocks * Q4Block.Size} values and {blocks * OffsetsPerBlock} offsets; got {arranged.Length} and {offsets.Length}.");
        }

        ref short xr = ref MemoryMarshal.GetReference(x);
        ref short ar = ref MemoryMarshal.GetReference(arranged);
        ref int kr = ref MemoryMarshal.GetReference(offsets);

        // Within each 128-bit lane, the even int16s, then the odd ones.
        Vector256<byte> split = Vector256.Create((byte)0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15, 0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
        Vector256<short> one = Vector256<short>.One;
        int part = 8 * perStep;
        for (int b = 0; b < blocks; b++)
        {
            Vector256<short> low = Vector256.LoadUnsafe(ref xr, (nuint)(b * Q4Block.Size));
            Vector256<short> high = Vector256.LoadUnsafe(ref xr, (nuint)((b * Q4Block.Size) + 16));

            // Values 0, 2, …, 14 | 1, 3, …, 15, and the same for 16…31: 64-bit quarters (even 0–7, odd 0–7, even 8–15,
            // odd 8–15) put in the order 0, 2, 1, 3.
            Vector256<short> first = Avx2.Permute4x64(Avx2.Shuffle(low.AsByte(), split).AsUInt64(), 0b11_01_10_00).AsInt16();
            Vector256<short> second = Avx2.Permute4x64(Avx2.Shuffle(high.AsByte(), split).AsUInt64(), 0b11_01_10_00).AsInt16();
            ref short at = ref Unsafe.Add(ref ar, ((b / perStep) * Q4Block.Size * perStep) + ((b % perStep) * 8));
            first.GetLower().StoreUnsafe(ref at);
            first.GetUpper().StoreUnsafe(ref at, (nuint)part);
            second.GetLower().StoreUnsafe(ref at, (nuint)(2 * part));
            second.GetUpper().StoreUnsafe(ref at, (nuint)(3 * part));

            // Offset i of the block: −8 · (x[4i … 4i + 3] + x[16 + 4i … 16 + 4i + 3]).
            Vector256<int> pairs = Avx2.MultiplyAddAdjacent(low, one) + Avx2.MultiplyAddAdjacent(high, one);
            Vector256<int> quads = Avx2.HorizontalAdd(pairs, pairs);
            Vector128<int> sums = Avx2.Permute4x64(quads.AsUInt64(), 0b00_00_10_00).AsInt32().GetLower();
            (sums * -Q4Block.Offset).StoreUnsafe(ref kr, (nuint)(b * OffsetsPerBlock));
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

    /// <summary>Bytes of a 4-row tile per four blocks of each row: 64 bytes of values and 16 of scales a row (five lines).</summary>
    private const int QuadTileBytes = RowTile * 4 * (Q4Block.PackedBytes + sizeof(float));

    /// <summary>
    /// Requests one even share of the tile a fetch distance ahead, <see cref="QuadTileBytes"/> from
    /// <paramref name="ahead"/> bytes past the tile's start, as five requests without a loop: one per step of four
    /// blocks, so that the tile is requested whole by the end of its rows' whole fours. Against a loop over the tile's
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

    /// <summary>
    /// Requests the lines of a tile a fetch distance ahead from <paramref name="covered"/> bytes into it to its end
    /// (<paramref name="tileBytes"/>): the part after the last whole four blocks of each row, which the steps'
    /// requests (<see cref="QuadTileBytes"/> each) leave out. At most 240 bytes.
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref float y, int row, float sum, bool accumulate)
    {
        ref float target = ref Unsafe.Add(ref y, row);
        target = accumulate ? target + sum : sum;
    }
}
