using System.Numerics.Tensors;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Width-generic kernels that generated code calls for cases it does not specialize: fp16 matrices (rare: rwkv.cpp
/// FP16 files), whose rows are widened to fp32 in chunks and dotted with TensorPrimitives.
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
                    w.AsQ8Span().Slice((row * w.Cols) + start, destination.Length),
                    w.AsQ8ScalesSpan().Slice(((row * w.Cols) + start) / Loading.Q8Block.Size),
                    destination);
                break;
            default:
                w.RowF32(row).Slice(start, destination.Length).CopyTo(destination);
                break;
        }
    }
}
