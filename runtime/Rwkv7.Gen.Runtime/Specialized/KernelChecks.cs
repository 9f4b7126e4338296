using System.ComponentModel;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Argument checks done once per kernel call by generated code, before its unchecked inner loops: a wrong call
/// fails with an exception instead of reading or writing out of bounds.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class KernelChecks
{
    /// <summary>Checks a matrix product's operands: x [T][W.Cols], y [T][yStride], rows within W.</summary>
    public static void MatMul(in WeightMatrix w, int xLength, int yLength, int tokens, int yStride, int rowStart, int rowEnd)
    {
        if (w.IsEmpty)
        {
            throw new ArgumentException("The weight matrix is empty.", nameof(w));
        }

        if (tokens < 0 || rowStart < 0 || rowEnd < rowStart || rowEnd > w.Rows || yStride < rowEnd)
        {
            throw new ArgumentOutOfRangeException(
                nameof(rowEnd), $"Invalid product: tokens {tokens}, rows [{rowStart}, {rowEnd}) of {w.Rows}, y stride {yStride}.");
        }

        if (tokens > 0 && ((long)tokens * w.Cols > xLength || ((long)(tokens - 1) * yStride) + rowEnd > yLength))
        {
            throw new ArgumentException(
                $"Operands too short for {tokens} token(s): x has {xLength} floats (needs {(long)tokens * w.Cols}), y has {yLength} (needs {((long)(tokens - 1) * yStride) + rowEnd}).");
        }
    }

    /// <summary>
    /// Checks a one-token product of an 8-bit matrix with 16-bit inputs: x [W.Cols] int16, xScales [W.Cols / 32],
    /// y [rowEnd], rows within W.
    /// </summary>
    public static void MatMulQ8Int16(in WeightMatrix w, int xLength, int xScalesLength, int yLength, int rowStart, int rowEnd) =>
        MatMulInt16(w, Loading.TensorDType.Q8, xLength, xScalesLength, yLength, rowStart, rowEnd);

    /// <summary>
    /// Checks a one-token product of a <paramref name="type"/> (8- or 4-bit) matrix with 16-bit inputs: x [W.Cols] int16,
    /// xScales [W.Cols / 32], y [rowEnd], rows within W.
    /// </summary>
    public static void MatMulInt16(in WeightMatrix w, Loading.TensorDType type, int xLength, int xScalesLength, int yLength, int rowStart, int rowEnd)
    {
        if (w.Type != type)
        {
            throw new ArgumentException($"This product of 16-bit inputs takes {type.DisplayName()} matrices; this one holds {w.Type.DisplayName()}.", nameof(w));
        }

        MatMul(w, xLength, yLength, 1, rowEnd, rowStart, rowEnd);
        if (xScalesLength < w.Cols / Loading.Q8Block.Size)
        {
            throw new ArgumentException($"xScales has {xScalesLength} floats; {w.Cols} inputs need {w.Cols / Loading.Q8Block.Size}.");
        }
    }

    /// <summary>Checks a range of heads [<paramref name="start"/>, <paramref name="end"/>) of a model with <paramref name="heads"/> heads.</summary>
    public static void Heads(int start, int end, int heads)
    {
        if (start < 0 || end < start || end > heads)
        {
            throw new ArgumentOutOfRangeException(nameof(end), $"Heads [{start}, {end}) are not within the model's {heads}.");
        }
    }

    /// <summary>Checks that a span has at least <paramref name="required"/> elements.</summary>
    public static void Length(int actual, int required, string name)
    {
        if (actual < required)
        {
            throw new ArgumentException($"{name} has {actual} elements; the kernel needs {required}.", name);
        }
    }
}
