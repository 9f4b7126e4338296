using System.ComponentModel;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Width-generic kernels that generated code calls for cases it does not specialize: fp16 matrices (kept on request,
/// or holding values bf16 cannot; one token widens them in registers, several in chunks) and input widths a model's
/// shape does not have, whose rows are widened to fp32 and multiplied in register tiles or dotted with
/// TensorPrimitives.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class KernelFallbacks
{
    private const int ChunkElements = 256;

    /// <summary>Tokens whose sums one widened chunk of a row serves (a prefill block's tokens, or a batch's sessions).</summary>
    private const int TokenGroup = 64;

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for T tokens, any element type:
    /// x is [T][W.Cols], y is [T][<paramref name="yStride"/>]; adds into y when <paramref name="accumulate"/> is set.
    /// </summary>
    /// <remarks>
    /// From <see cref="TileTokens"/> tokens on, with 512-bit vectors, rows are widened once per tile of rows and
    /// multiplied in register tiles (<see cref="MatMulWidenedTiles"/>); otherwise each chunk of a row is widened once
    /// for up to <see cref="TokenGroup"/> tokens and dotted with each.
    /// </remarks>
    public static void MatMul(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)
    {
        KernelChecks.MatMul(w, x.Length, y.Length, tokens, yStride, rowStart, rowEnd);
        if (tokens == 1 && w.Type == Loading.TensorDType.F16 && Vector256.IsHardwareAccelerated)
        {
            MatVecF16(w, x, y, rowStart, rowEnd, accumulate);
            return;
        }

        if (tokens >= TileTokens && Vector512.IsHardwareAccelerated)
        {
            MatMulWidenedTiles(w, x, y, tokens, yStride, rowStart, rowEnd, accumulate);
            return;
        }

        int cols = w.Cols;
        Span<float> chunk = stackalloc float[ChunkElements];
        Span<float> sums = stackalloc float[TokenGroup];
        for (int r = rowStart; r < rowEnd; r++)
        {
            for (int first = 0; first < tokens; first += TokenGroup)
            {
                int count = Math.Min(TokenGroup, tokens - first);
                sums[..count].Clear();
                for (int c = 0; c < cols; c += ChunkElements)
                {
                    int n = Math.Min(ChunkElements, cols - c);
                    Span<float> part = chunk[..n];
                    ReadRowPart(w, r, c, part);
                    for (int t = 0; t < count; t++)
                    {
                        sums[t] += TensorPrimitives.Dot(part, x.Slice(((first + t) * cols) + c, n));
                    }
                }

                for (int t = 0; t < count; t++)
                {
                    ref float target = ref y[((first + t) * yStride) + r];
                    target = accumulate ? target + sums[t] : sums[t];
                }
            }
        }
    }

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for one token, W 8-bit and x rounded to
    /// 16 bits (<see cref="Int16Activations"/>): per block, the int8 × int16 products summed exactly, then scaled by
    /// the weight's and the input's block scales.
    /// </summary>
    public static void MatMulQ8Int16(in WeightMatrix w, ReadOnlySpan<short> x, ReadOnlySpan<float> xScales, Span<float> y, int rowStart, int rowEnd, bool accumulate)
    {
        int blocks = w.Cols / Loading.Q8Block.Size;
        for (int r = rowStart; r < rowEnd; r++)
        {
            ReadOnlySpan<sbyte> q = w.Q8RowValues(r);
            ReadOnlySpan<float> scales = w.Q8RowScales(r);
            float sum = 0;
            for (int b = 0; b < blocks; b++)
            {
                int dot = 0;
                for (int i = b * Loading.Q8Block.Size; i < (b + 1) * Loading.Q8Block.Size; i++)
                {
                    dot += q[i] * x[i];
                }

                sum += scales[b] * (xScales[b] * dot);
            }

            y[r] = accumulate ? y[r] + sum : sum;
        }
    }

    /// <summary>
    /// One token with fp16 weights (decode): four rows at a time, each step of 32 weights widened in registers
    /// (<see cref="HalfConversions"/>' integer form) and multiplied with inputs loaded once for the four rows. Widening
    /// a row into a buffer and dotting it, the chunked path, decoded the 0.1B shape at 46–53 tokens/s on two threads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatVecF16(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int rowStart, int rowEnd, bool accumulate)
    {
        if (rowStart >= rowEnd)
        {
            return;
        }

        int cols = w.Cols;
        int step = Vector512.IsHardwareAccelerated ? 32 : 16;
        int vectorCols = cols - (cols % step);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref ushort first = ref Unsafe.As<Half, ushort>(ref MemoryMarshal.GetReference(w.RowF16(rowStart)));
        int r = rowStart;
        for (; r + 4 <= rowEnd; r += 4)
        {
            ref ushort w0 = ref Unsafe.Add(ref first, (nint)(r - rowStart) * cols);
            (float s0, float s1, float s2, float s3) = Vector512.IsHardwareAccelerated
                ? Dot4x512(ref w0, ref xr, cols, vectorCols)
                : Dot4x256(ref w0, ref xr, cols, vectorCols);
            StoreSum(y, r, s0 + RowTail(ref w0, ref xr, vectorCols, cols), accumulate);
            StoreSum(y, r + 1, s1 + RowTail(ref Unsafe.Add(ref w0, cols), ref xr, vectorCols, cols), accumulate);
            StoreSum(y, r + 2, s2 + RowTail(ref Unsafe.Add(ref w0, 2 * cols), ref xr, vectorCols, cols), accumulate);
            StoreSum(y, r + 3, s3 + RowTail(ref Unsafe.Add(ref w0, 3 * cols), ref xr, vectorCols, cols), accumulate);
        }

        for (; r < rowEnd; r++)
        {
            ref ushort w0 = ref Unsafe.Add(ref first, (nint)(r - rowStart) * cols);
            Vector256<float> sums = Vector256<float>.Zero;
            for (nuint c = 0; c < (nuint)vectorCols; c += 16)
            {
                Vector256<ushort> p = Vector256.LoadUnsafe(ref w0, c);
                sums = Vector256.FusedMultiplyAdd(HalfConversions.Widen(Vector256.WidenLower(p)).AsSingle(), Vector256.LoadUnsafe(ref xr, c), sums);
                sums = Vector256.FusedMultiplyAdd(HalfConversions.Widen(Vector256.WidenUpper(p)).AsSingle(), Vector256.LoadUnsafe(ref xr, c + 8), sums);
            }

            StoreSum(y, r, Vector256.Sum(sums) + RowTail(ref w0, ref xr, vectorCols, cols), accumulate);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float, float, float, float) Dot4x512(ref ushort w0, ref float xr, int cols, int vectorCols)
    {
        ref ushort w1 = ref Unsafe.Add(ref w0, cols);
        ref ushort w2 = ref Unsafe.Add(ref w1, cols);
        ref ushort w3 = ref Unsafe.Add(ref w2, cols);
        Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (nuint c = 0; c < (nuint)vectorCols; c += 32)
        {
            Vector512<float> lo = Vector512.LoadUnsafe(ref xr, c), hi = Vector512.LoadUnsafe(ref xr, c + 16);
            Vector512<ushort> p = Vector512.LoadUnsafe(ref w0, c);
            a0 = Vector512.FusedMultiplyAdd(HalfConversions.Widen(Vector512.WidenLower(p)).AsSingle(), lo, a0);
            b0 = Vector512.FusedMultiplyAdd(HalfConversions.Widen(Vector512.WidenUpper(p)).AsSingle(), hi, b0);
            p = Vector512.LoadUnsafe(ref w1, c);
            a1 = Vector512.FusedMultiplyAdd(HalfConversions.Widen(Vector512.WidenLower(p)).AsSingle(), lo, a1);
            b1 = Vector512.FusedMultiplyAdd(HalfConversions.Widen(Vector512.WidenUpper(p)).AsSingle(), hi, b1);
            p = Vector512.LoadUnsafe(ref w2, c);
            a2 = Vector512.FusedMultiplyAdd(HalfConversions.Widen(Vector512.WidenLower(p)).AsSingle(), lo, a2);
            b2 = Vector512.FusedMultiplyAdd(HalfConversions.Widen(Vector512.WidenUpper(p)).AsSingle(), hi, b2);
            p = Vector512.LoadUnsafe(ref w3, c);
            a3 = Vector512.FusedMultiplyAdd(HalfConversions.Widen(Vector512.WidenLower(p)).AsSingle(), lo, a3);
            b3 = Vector512.FusedMultiplyAdd(HalfConversions.Widen(Vector512.WidenUpper(p)).AsSingle(), hi, b3);
        }

        return (Vector512.Sum(a0 + b0), Vector512.Sum(a1 + b1), Vector512.Sum(a2 + b2), Vector512.Sum(a3 + b3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float, float, float, float) Dot4x256(ref ushort w0, ref float xr, int cols, int vectorCols)
    {
        ref ushort w1 = ref Unsafe.Add(ref w0, cols);
        ref ushort w2 = ref Unsafe.Add(ref w1, cols);
        ref ushort w3 = ref Unsafe.Add(ref w2, cols);
        Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (nuint c = 0; c < (nuint)vectorCols; c += 16)
        {
            Vector256<float> lo = Vector256.LoadUnsafe(ref xr, c), hi = Vector256.LoadUnsafe(ref xr, c + 8);
            Vector256<ushort> p = Vector256.LoadUnsafe(ref w0, c);
            a0 = Vector256.FusedMultiplyAdd(HalfConversions.Widen(Vector256.WidenLower(p)).AsSingle(), lo, a0);
            b0 = Vector256.FusedMultiplyAdd(HalfConversions.Widen(Vector256.WidenUpper(p)).AsSingle(), hi, b0);
            p = Vector256.LoadUnsafe(ref w1, c);
            a1 = Vector256.FusedMultiplyAdd(HalfConversions.Widen(Vector256.WidenLower(p)).AsSingle(), lo, a1);
            b1 = Vector256.FusedMultiplyAdd(HalfConversions.Widen(Vector256.WidenUpper(p)).AsSingle(), hi, b1);
            p = Vector256.LoadUnsafe(ref w2, c);
            a2 = Vector256.FusedMultiplyAdd(HalfConversions.Widen(Vector256.WidenLower(p)).AsSingle(), lo, a2);
            b2 = Vector256.FusedMultiplyAdd(HalfConversions.Widen(Vector256.WidenUpper(p)).AsSingle(), hi, b2);
            p = Vector256.LoadUnsafe(ref w3, c);
            a3 = Vector256.FusedMultiplyAdd(HalfConversions.Widen(Vector256.WidenLower(p)).AsSingle(), lo, a3);
            b3 = Vector256.FusedMultiplyAdd(HalfConversions.Widen(Vector256.WidenUpper(p)).AsSingle(), hi, b3);
        }

        return (Vector256.Sum(a0 + b0), Vector256.Sum(a1 + b1), Vector256.Sum(a2 + b2), Vector256.Sum(a3 + b3));
    }

    /// <summary>The products of a row's last columns, those after the whole vector steps.</summary>
    private static float RowTail(ref ushort row, ref float x, int from, int cols)
    {
        float sum = 0;
        for (int c = from; c < cols; c++)
        {
            sum += (float)BitConverter.UInt16BitsToHalf(Unsafe.Add(ref row, c)) * Unsafe.Add(ref x, c);
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreSum(Span<float> y, int row, float sum, bool accumulate)
    {
        ref float target = ref y[row];
        target = accumulate ? target + sum : sum;
    }

    /// <summary>Rows and tokens of a register tile of <see cref="MatMulWidenedTiles"/>.</summary>
    private const int TileRows = 4, TileTokens = 4;

    /// <summary>Each thread's fp32 copy of a tile's rows (allocated once per thread and row length; reused).</summary>
    [ThreadStatic]
    private static float[]? t_widened;

    /// <summary>
    /// Several tokens with 512-bit vectors: <see cref="TileRows"/> rows at a time are widened to fp32 once (into a
    /// per-thread buffer) and multiplied with <see cref="TileTokens"/> tokens at a time, 16 accumulators in
    /// registers; leftover tokens take a dot product per row. About as many instructions per weight as the generated
    /// fp32 tiles, without their unrolling or prefetching.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulWidenedTiles(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)
    {
        int cols = w.Cols;
        float[] widened = t_widened is { } buffer && buffer.Length >= TileRows * cols ? buffer : (t_widened = new float[TileRows * cols]);
        ref float wr = ref MemoryMarshal.GetArrayDataReference(widened);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int vectorCols = cols - (cols % Vector512<float>.Count);
        for (int r = rowStart; r < rowEnd; r += TileRows)
        {
            int rows = Math.Min(TileRows, rowEnd - r);
            for (int k = 0; k < rows; k++)
            {
                w.ReadRow(r + k, widened.AsSpan(k * cols, cols));
            }

            int t = 0;
            if (rows == TileRows)
            {
                for (; t + TileTokens <= tokens; t += TileTokens)
                {
                    ref float w0 = ref wr;
                    ref float w1 = ref Unsafe.Add(ref wr, cols);
                    ref float w2 = ref Unsafe.Add(ref wr, 2 * cols);
                    ref float w3 = ref Unsafe.Add(ref wr, 3 * cols);
                    ref float x0 = ref Unsafe.Add(ref xr, t * cols);
                    ref float x1 = ref Unsafe.Add(ref x0, cols);
                    ref float x2 = ref Unsafe.Add(ref x1, cols);
                    ref float x3 = ref Unsafe.Add(ref x2, cols);
                    Vector512<float> a00 = Vector512<float>.Zero, a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
                    Vector512<float> a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
                    for (nuint c = 0; c < (nuint)vectorCols; c += (nuint)Vector512<float>.Count)
                    {
                        Vector512<float> v0 = Vector512.LoadUnsafe(ref x0, c), v1 = Vector512.LoadUnsafe(ref x1, c);
                        Vector512<float> v2 = Vector512.LoadUnsafe(ref x2, c), v3 = Vector512.LoadUnsafe(ref x3, c);
                        Vector512<float> m = Vector512.LoadUnsafe(ref w0, c);
                        a00 = Vector512.FusedMultiplyAdd(m, v0, a00);
                        a01 = Vector512.FusedMultiplyAdd(m, v1, a01);
                        a02 = Vector512.FusedMultiplyAdd(m, v2, a02);
                        a03 = Vector512.FusedMultiplyAdd(m, v3, a03);
                        m = Vector512.LoadUnsafe(ref w1, c);
                        a10 = Vector512.FusedMultiplyAdd(m, v0, a10);
                        a11 = Vector512.FusedMultiplyAdd(m, v1, a11);
                        a12 = Vector512.FusedMultiplyAdd(m, v2, a12);
                        a13 = Vector512.FusedMultiplyAdd(m, v3, a13);
                        m = Vector512.LoadUnsafe(ref w2, c);
                        a20 = Vector512.FusedMultiplyAdd(m, v0, a20);
                        a21 = Vector512.FusedMultiplyAdd(m, v1, a21);
                        a22 = Vector512.FusedMultiplyAdd(m, v2, a22);
                        a23 = Vector512.FusedMultiplyAdd(m, v3, a23);
                        m = Vector512.LoadUnsafe(ref w3, c);
                        a30 = Vector512.FusedMultiplyAdd(m, v0, a30);
                        a31 = Vector512.FusedMultiplyAdd(m, v1, a31);
                        a32 = Vector512.FusedMultiplyAdd(m, v2, a32);
                        a33 = Vector512.FusedMultiplyAdd(m, v3, a33);
                    }

                    ref float y0 = ref Unsafe.Add(ref yr, (t * yStride) + r);
                    Store(ref y0, 0, a00, accumulate);
                    Store(ref y0, 1, a10, accumulate);
                    Store(ref y0, 2, a20, accumulate);
                    Store(ref y0, 3, a30, accumulate);
                    ref float y1 = ref Unsafe.Add(ref y0, yStride);
                    Store(ref y1, 0, a01, accumulate);
                    Store(ref y1, 1, a11, accumulate);
                    Store(ref y1, 2, a21, accumulate);
                    Store(ref y1, 3, a31, accumulate);
                    ref float y2 = ref Unsafe.Add(ref y1, yStride);
                    Store(ref y2, 0, a02, accumulate);
                    Store(ref y2, 1, a12, accumulate);
                    Store(ref y2, 2, a22, accumulate);
                    Store(ref y2, 3, a32, accumulate);
                    ref float y3 = ref Unsafe.Add(ref y2, yStride);
                    Store(ref y3, 0, a03, accumulate);
                    Store(ref y3, 1, a13, accumulate);
                    Store(ref y3, 2, a23, accumulate);
                    Store(ref y3, 3, a33, accumulate);
                    if (vectorCols < cols)
                    {
                        // Row lengths that are not whole vectors: the last few columns, one by one.
                        for (int k = 0; k < TileRows; k++)
                        {
                            for (int j = 0; j < TileTokens; j++)
                            {
                                float rest = 0;
                                for (int c = vectorCols; c < cols; c++)
                                {
                                    rest += widened[(k * cols) + c] * x[((t + j) * cols) + c];
                                }

                                y[((t + j) * yStride) + r + k] += rest;
                            }
                        }
                    }
                }
            }

            for (; t < tokens; t++)
            {
                for (int k = 0; k < rows; k++)
                {
                    float sum = TensorPrimitives.Dot(widened.AsSpan(k * cols, cols), x.Slice(t * cols, cols));
                    ref float target = ref y[(t * yStride) + r + k];
                    target = accumulate ? target + sum : sum;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref float y, int row, Vector512<float> sums, bool accumulate)
    {
        ref float target = ref Unsafe.Add(ref y, row);
        target = accumulate ? target + Vector512.Sum(sums) : Vector512.Sum(sums);
    }

    private static void ReadRowPart(in WeightMatrix w, int row, int start, Span<float> destination)
    {
        switch (w.Type)
        {
            case Loading.TensorDType.F16:
                HalfConversions.ToSingle(w.RowF16(row).Slice(start, destination.Length), destination);
                break;
            case Loading.TensorDType.BF16:
                BFloat16Conversions.ToSingle(w.RowBF16(row).Slice(start, destination.Length), destination);
                break;
            case Loading.TensorDType.Q8:
                Weights.Q8Quantizer.DequantizeRow(
                    w.Q8RowValues(row).Slice(start, destination.Length), w.Q8RowScales(row).Slice(start / Loading.Q8Block.Size), destination);
                break;
            case Loading.TensorDType.Q4:
                // Chunks start on block boundaries: ChunkElements and every row length are whole blocks.
                Weights.Q4Quantizer.DequantizeRow(
                    w.Q4RowValues(row)[(start / 2)..], w.Q4RowScales(row)[(start / Loading.Q4Block.Size)..], destination);
                break;
            default:
                w.RowF32(row).Slice(start, destination.Length).CopyTo(destination);
                break;
        }
    }
}
