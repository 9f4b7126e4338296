using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// Symmetric 8-bit quantization in blocks of <see cref="Q8Block.Size"/> values along a row: each block stores
/// scale = max|w| / 127 and q = round(w / scale), so value = scale × q. The largest magnitude of every block is
/// represented exactly and every value is within scale / 2 of the original.
/// </summary>
public static class Q8Quantizer
{
    /// <summary>Quantizes one row; <paramref name="row"/>.Length must be a multiple of the block size.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> row, Span<sbyte> quants, Span<float> scales)
    {
        if (row.Length % Q8Block.Size != 0 || quants.Length < row.Length || scales.Length < row.Length / Q8Block.Size)
        {
            throw new ArgumentException($"Q8 rows are whole blocks of {Q8Block.Size}; got a row of {row.Length}.");
        }

        for (int b = 0; b < row.Length / Q8Block.Size; b++)
        {
            ReadOnlySpan<float> block = row.Slice(b * Q8Block.Size, Q8Block.Size);
            float max = 0;
            foreach (float v in block)
            {
                max = MathF.Max(max, MathF.Abs(v));
            }

            float scale = max / Q8Block.MaxQuant;
            float inverse = scale == 0 ? 0 : 1 / scale;
            scales[b] = scale;
            Span<sbyte> q = quants.Slice(b * Q8Block.Size, Q8Block.Size);
            for (int i = 0; i < Q8Block.Size; i++)
            {
                q[i] = (sbyte)Math.Clamp((int)MathF.Round(block[i] * inverse), -Q8Block.MaxQuant, Q8Block.MaxQuant);
            }
        }
    }

    /// <summary>Reconstructs one row of fp32 values.</summary>
    public static void DequantizeRow(ReadOnlySpan<sbyte> quants, ReadOnlySpan<float> scales, Span<float> row)
    {
        for (int i = 0; i < quants.Length; i++)
        {
            row[i] = scales[i / Q8Block.Size] * quants[i];
        }
    }
}
