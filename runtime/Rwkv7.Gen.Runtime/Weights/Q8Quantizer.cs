using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// Symmetric 8-bit quantization in blocks of <see cref="Q8Block.Size"/> values along a row: each block stores
/// scale = max|w| / 127 and q = round(w / scale), so value = scale × q. The largest magnitude of every block is
/// represented exactly and every value is within scale / 2 of the original.
/// </summary>
internal static class Q8Quantizer
{
    /// <summary>
    /// Quantizes one row; <paramref name="row"/>.Length must be a multiple of the block size. The 512-bit, 256-bit and
    /// scalar paths give the same values and scales: a block holding a NaN or an infinity, or too small for 1 / scale to
    /// be finite, takes the scalar path's arithmetic.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> row, Span<sbyte> quants, Span<float> scales) =>
        QuantizeRow(row, quants, scales, Vector512.IsHardwareAccelerated ? QuantizerPath.Vector512 : Vector256.IsHardwareAccelerated ? QuantizerPath.Vector256 : QuantizerPath.Scalar);

    /// <summary><see cref="QuantizeRow(ReadOnlySpan{float}, Span{sbyte}, Span{float})"/> on a given path (tests compare them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void QuantizeRow(ReadOnlySpan<float> row, Span<sbyte> quants, Span<float> scales, QuantizerPath path)
    {
        const int size = Q8Block.Size;
        if (row.Length % size != 0 || quants.Length < row.Length || scales.Length < row.Length / size)
        {
            throw new ArgumentException($"Q8 rows are whole blocks of {size}; got a row of {row.Length}.");
        }

        ref float first = ref MemoryMarshal.GetReference(row);
        ref sbyte output = ref MemoryMarshal.GetReference(quants);
        for (int b = 0; b < row.Length / size; b++)
        {
            ref float block = ref Unsafe.Add(ref first, b * size);
            ref sbyte q = ref Unsafe.Add(ref output, b * size);
            scales[b] = path switch
            {
                QuantizerPath.Vector512 => QuantizeBlock512(ref block, ref q),
                QuantizerPath.Vector256 => QuantizeBlock256(ref block, ref q),
                _ => QuantizeBlockScalar(ref block, ref q),
            };
        }
    }

    /// <summary>One block with two 512-bit vectors; returns its scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float QuantizeBlock512(ref float block, ref sbyte q)
    {
        Vector512<float> v0 = Vector512.LoadUnsafe(ref block), v1 = Vector512.LoadUnsafe(ref block, 16);
        Vector512<float> a0 = Vector512.Abs(v0), a1 = Vector512.Abs(v1), infinity = Vector512.Create(float.PositiveInfinity);
        if (!Vector512.LessThanAll(a0, infinity) || !Vector512.LessThanAll(a1, infinity))
        {
            return QuantizeBlockScalar(ref block, ref q); // a NaN or an infinity: the scalar path's arithmetic
        }

        Vector512<float> m = Vector512.MaxNative(a0, a1);
        float max = QuantizerVectors.MaxLane(Vector256.MaxNative(m.GetLower(), m.GetUpper()));
        (float scale, float inverse) = Scale(max);
        if (!float.IsFinite(inverse))
        {
            return QuantizeBlockScalar(ref block, ref q); // subnormal values: 0 · ∞ is NaN, which only (int) maps to 0
        }

        Vector512<float> low = Vector512.Create((float)-Q8Block.MaxQuant), high = Vector512.Create((float)Q8Block.MaxQuant);
        Vector512<int> q0 = Vector512.ConvertToInt32(Vector512.ClampNative(Vector512.Round(v0 * inverse), low, high));
        Vector512<int> q1 = Vector512.ConvertToInt32(Vector512.ClampNative(Vector512.Round(v1 * inverse), low, high));
        Vector512.Narrow(Vector512.Narrow(q0, q1), Vector512<short>.Zero).GetLower().StoreUnsafe(ref q);
        return scale;
    }

    /// <summary>One block with four 256-bit vectors; returns its scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float QuantizeBlock256(ref float block, ref sbyte q)
    {
        Vector256<float> v0 = Vector256.LoadUnsafe(ref block), v1 = Vector256.LoadUnsafe(ref block, 8);
        Vector256<float> v2 = Vector256.LoadUnsafe(ref block, 16), v3 = Vector256.LoadUnsafe(ref block, 24);
        Vector256<float> a0 = Vector256.Abs(v0), a1 = Vector256.Abs(v1), a2 = Vector256.Abs(v2), a3 = Vector256.Abs(v3);
        Vector256<float> infinity = Vector256.Create(float.PositiveInfinity);
        if (!Vector256.LessThanAll(a0, infinity) || !Vector256.LessThanAll(a1, infinity)
            || !Vector256.LessThanAll(a2, infinity) || !Vector256.LessThanAll(a3, infinity))
        {
            return QuantizeBlockScalar(ref block, ref q);
        }

        float max = QuantizerVectors.MaxLane(Vector256.MaxNative(Vector256.MaxNative(a0, a1), Vector256.MaxNative(a2, a3)));
        (float scale, float inverse) = Scale(max);
        if (!float.IsFinite(inverse))
        {
            return QuantizeBlockScalar(ref block, ref q); // subnormal values: 0 · ∞ is NaN, which only (int) maps to 0
        }

        Vector256<float> low = Vector256.Create((float)-Q8Block.MaxQuant), high = Vector256.Create((float)Q8Block.MaxQuant);
        Vector256<int> q0 = Vector256.ConvertToInt32(Vector256.ClampNative(Vector256.Round(v0 * inverse), low, high));
        Vector256<int> q1 = Vector256.ConvertToInt32(Vector256.ClampNative(Vector256.Round(v1 * inverse), low, high));
        Vector256<int> q2 = Vector256.ConvertToInt32(Vector256.ClampNative(Vector256.Round(v2 * inverse), low, high));
        Vector256<int> q3 = Vector256.ConvertToInt32(Vector256.ClampNative(Vector256.Round(v3 * inverse), low, high));
        Vector256.Narrow(Vector256.Narrow(q0, q1), Vector256.Narrow(q2, q3)).StoreUnsafe(ref q);
        return scale;
    }

    /// <summary>One block a value at a time; returns its scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float QuantizeBlockScalar(ref float block, ref sbyte q)
    {
        float max = 0;
        for (int i = 0; i < Q8Block.Size; i++)
        {
            max = MathF.Max(max, MathF.Abs(Unsafe.Add(ref block, i)));
        }

        (float scale, float inverse) = Scale(max);
        for (int i = 0; i < Q8Block.Size; i++)
        {
            Unsafe.Add(ref q, i) = (sbyte)Math.Clamp((int)MathF.Round(Unsafe.Add(ref block, i) * inverse), -Q8Block.MaxQuant, Q8Block.MaxQuant);
        }

        return scale;
    }

    /// <summary>A block's scale, max|w| / 127, and the factor that maps its values to −127…127.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float Scale, float Inverse) Scale(float max)
    {
        float scale = max / Q8Block.MaxQuant;
        return (scale, scale == 0 ? 0 : 1 / scale);
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
