using System.Numerics.Tensors;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Width-generic kernels that generated code calls for cases it does not specialize: fp16 matrices (rare: rwkv.cpp
/// FP16 files), whose rows are widened to fp32 in chunks and dotted with TensorPrimitives, and input widths a model's
/// shape does not have.
/// </summary>
public static class KernelFallbacks
{
    private const int ChunkElements = 256;

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for T tokens, any element type:
    /// x is [T][W.Cols], y is [T][<paramref name="yStride"/>]; adds into y when <paramref name="accumulate"/> is set.
    /// </summary>
    public static void MatMul(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)
    {
        int cols = w.Cols;
        Span<float> chunk = stackalloc float[ChunkElements];
        for (int r = rowStart; r < rowEnd; r++)
        {
            for (int t = 0; t < tokens; t++)
            {
                ReadOnlySpan<float> xt = x.Slice(t * cols, cols);
                float sum = 0;
                for (int c = 0; c < cols; c += ChunkElements)
                {
                    int n = Math.Min(ChunkElements, cols - c);
                    Span<float> part = chunk[..n];
                    ReadRowPart(w, r, c, part);
                    sum += TensorPrimitives.Dot(part, xt.Slice(c, n));
                }

                ref float target = ref y[(t * yStride) + r];
                target = accumulate ? target + sum : sum;
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

    private static void ReadRowPart(in WeightMatrix w, int row, int start, Span<float> destination)
    {
        switch (w.Type)
        {
            case Loading.TensorDType.F16:
                TensorPrimitives.ConvertToSingle(w.RowF16(row).Slice(start, destination.Length), destination);
                break;
            case Loading.TensorDType.BF16:
                BFloat16Conversions.ToSingle(w.RowBF16(row).Slice(start, destination.Length), destination);
                break;
            case Loading.TensorDType.Q8:
                Weights.Q8Quantizer.DequantizeRow(
                    w.Q8RowValues(row).Slice(start, destination.Length), w.Q8RowScales(row).Slice(start / Loading.Q8Block.Size), destination);
                break;
            default:
                w.RowF32(row).Slice(start, destination.Length).CopyTo(destination);
                break;
        }
    }
}
