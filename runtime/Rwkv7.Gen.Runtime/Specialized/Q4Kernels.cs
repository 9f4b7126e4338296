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
internal static partial class Q4Kernels
{
    private const int RowTile = 4;

    /// <summary>
    /// Widest row the 512-bit and the 256-bit row tiles take: they arrange their inputs and offsets on the stack (2.5
    /// bytes per input: 40 KiB at this width, which every released size's rows are within). Wider rows take the
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
            if (w.Cols <= MaxStackInputs)
            {
                MatMulInt16V256<TPrefetch>(ref wr, w.Cols, ref xr, ref xsr, ref yr, rowStart, rowEnd, accumulate);
            }
            else
            {
                MatMulInt16V256Rows<TPrefetch>(ref wr, w.Cols, ref xr, ref xsr, ref yr, rowStart, rowEnd, accumulate);
            }
        }
        else
        {
            MatMulInt16Scalar(w, x, xScales, y, rowStart, rowEnd, accumulate);
        }
    }

    /// <summary>
    /// Arranges <paramref name="x"/> for products that read <paramref name="blocksPerStep"/> blocks per step from one
    /// plain load, as 8 · <paramref name="blocksPerStep"/> int16 lanes: lane L holds bytes 2L and 2L + 1 of the step's
    /// block L / 8, whose nibbles are values j, j + 1, j + 16 and j + 17 of that block (j = 2·(L mod 8)). Per step,
    /// <paramref name="arranged"/> gets four vectors of inputs (those values for every lane, in that order) and
    /// <paramref name="offsets"/> one int32 per pair of lanes: 8 · the sum of the inputs those lanes take, the nibbles'
    /// offset that the products subtract.
    /// </summary>
    private static void ArrangeInputs(ref short x, Span<short> arranged, Span<int> offsets, int blocksPerStep)
    {
        int lanes = 8 * blocksPerStep;
        offsets.Clear();
        for (int step = 0, steps = offsets.Length * 2 / lanes; step < steps; step++)
        {
            for (int lane = 0; lane < lanes; lane++)
            {
                int from = (((blocksPerStep * step) + (lane / 8)) * Q4Block.Size) + (2 * (lane % 8));
                int to = (step * 4 * lanes) + lane;
                short v0 = Unsafe.Add(ref x, from), v1 = Unsafe.Add(ref x, from + 1), v2 = Unsafe.Add(ref x, from + 16), v3 = Unsafe.Add(ref x, from + 17);
                arranged[to] = v0;
                arranged[to + lanes] = v1;
                arranged[to + (2 * lanes)] = v2;
                arranged[to + (3 * lanes)] = v3;
                offsets[(step * lanes / 2) + (lane / 2)] += Q4Block.Offset * (v0 + v1 + v2 + v3);
            }
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
