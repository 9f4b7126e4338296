using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// 4-bit quantization in blocks of <see cref="Q4Block.Size"/> values along a row: value = scale × q with q in −8…7,
/// stored as q + 8, two to a byte (value i of a block in the low nibble of byte i, value i + 16 in its high nibble, so
/// that one 16-byte load and a shift give the block). Each block's scale is searched, as llama.cpp's k-quants do:
/// with m the block's value of largest magnitude, q is rounded at nine step sizes around m / −8 (GGML Q4_0's, which
/// maps m to −8), each paired with the scale that minimizes the block's squared error for those q, Σwq / Σq²; the pair
/// with the smallest error is kept. The squared error is therefore never above Q4_0's rounding and is usually below:
/// on the fixture models, the mean KL divergence from the unquantized model fell from 7.6e-2 to 5.9e-2 nats (mh4) and
/// from 8.4e-4 to 8.1e-4 (tiny).
/// </summary>
public static class Q4Quantizer
{
    /// <summary>The step sizes tried: m / −(8 + k / 4) for k = −4…4.</summary>
    private const int Candidates = 9;

    /// <summary>Quantizes one row; <paramref name="row"/>.Length must be a multiple of the block size.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> row, Span<byte> packed, Span<float> scales)
    {
        const int size = Q4Block.Size, half = size / 2;
        if (row.Length % size != 0 || packed.Length < row.Length / 2 || scales.Length < row.Length / size)
        {
            throw new ArgumentException($"Q4 rows are whole blocks of {size}; got a row of {row.Length}.");
        }

        ref float first = ref MemoryMarshal.GetReference(row);
        Span<float> q = stackalloc float[size];
        ref float qr = ref MemoryMarshal.GetReference(q);
        Vector256<float> low = Vector256.Create((float)-Q4Block.Offset), high = Vector256.Create((float)(Q4Block.Offset - 1));
        for (int b = 0; b < row.Length / size; b++)
        {
            ref float block = ref Unsafe.Add(ref first, b * size);
            float extreme = 0;
            for (int i = 0; i < size; i++)
            {
                float v = Unsafe.Add(ref block, i);
                if (MathF.Abs(v) > MathF.Abs(extreme))
                {
                    extreme = v;
                }
            }

            Vector256<float> v0 = Vector256.LoadUnsafe(ref block), v1 = Vector256.LoadUnsafe(ref block, 8);
            Vector256<float> v2 = Vector256.LoadUnsafe(ref block, 16), v3 = Vector256.LoadUnsafe(ref block, 24);
            float bestScore = -1, bestInverse = 0, bestScale = 0;
            for (int k = 0; k < Candidates && extreme != 0; k++)
            {
                // Σwq² / Σq² is what the least-squares scale removes from Σw²: the largest score is the smallest error.
                float inverse = -(Q4Block.Offset + ((k - (Candidates / 2)) * 0.25f)) / extreme;
                Vector256<float> q0 = Round(v0, inverse, low, high), q1 = Round(v1, inverse, low, high);
                Vector256<float> q2 = Round(v2, inverse, low, high), q3 = Round(v3, inverse, low, high);
                float wq = Vector256.Sum((v0 * q0) + (v1 * q1) + (v2 * q2) + (v3 * q3));
                float qq = Vector256.Sum((q0 * q0) + (q1 * q1) + (q2 * q2) + (q3 * q3));
                float score = qq > 0 ? wq * wq / qq : 0;
                if (score > bestScore)
                {
                    (bestScore, bestInverse, bestScale) = (score, inverse, qq > 0 ? wq / qq : 0);
                }
            }

            scales[b] = bestScale;
            Round(v0, bestInverse, low, high).StoreUnsafe(ref qr);
            Round(v1, bestInverse, low, high).StoreUnsafe(ref qr, 8);
            Round(v2, bestInverse, low, high).StoreUnsafe(ref qr, 16);
            Round(v3, bestInverse, low, high).StoreUnsafe(ref qr, 24);
            Span<byte> bytes = packed.Slice(b * Q4Block.PackedBytes, Q4Block.PackedBytes);
            for (int i = 0; i < half; i++)
            {
                bytes[i] = (byte)(((int)q[i] + Q4Block.Offset) | (((int)q[i + half] + Q4Block.Offset) << 4));
            }
        }
    }

    /// <summary>round(v · inverse), ties to even, clamped to −8…7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Round(Vector256<float> v, float inverse, Vector256<float> low, Vector256<float> high) =>
        Vector256.Clamp(Vector256.Round(v * inverse), low, high);

    /// <summary>
    /// Reconstructs <paramref name="row"/>.Length values (a multiple of the block size) from whole blocks:
    /// <paramref name="packed"/> and <paramref name="scales"/> start at the first of them.
    /// </summary>
    public static void DequantizeRow(ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales, Span<float> row)
    {
        const int size = Q4Block.Size, half = size / 2;
        int blocks = row.Length / size;
        if (packed.Length < blocks * Q4Block.PackedBytes || scales.Length < blocks)
        {
            throw new ArgumentException($"{row.Length} values need {blocks * Q4Block.PackedBytes} packed bytes and {blocks} scales.");
        }

        ref byte p = ref MemoryMarshal.GetReference(packed);
        ref float o = ref MemoryMarshal.GetReference(row);
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            Vector512<int> nibble = Vector512.Create(0xF), offset = Vector512.Create(Q4Block.Offset);
            for (int b = 0; b < blocks; b++)
            {
                Vector512<int> bytes = Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref p, (nuint)(b * Q4Block.PackedBytes)));
                Vector512<float> scale = Vector512.Create(scales[b]);
                (Vector512.ConvertToSingle((bytes & nibble) - offset) * scale).StoreUnsafe(ref o, (nuint)(b * size));
                (Vector512.ConvertToSingle((bytes >>> 4) - offset) * scale).StoreUnsafe(ref o, (nuint)((b * size) + half));
            }

            return;
        }

        for (int b = 0; b < blocks; b++)
        {
            float scale = scales[b];
            ReadOnlySpan<byte> bytes = packed.Slice(b * Q4Block.PackedBytes, Q4Block.PackedBytes);
            Span<float> block = row.Slice(b * size, size);
            for (int i = 0; i < half; i++)
            {
                block[i] = scale * ((bytes[i] & 0xF) - Q4Block.Offset);
                block[i + half] = scale * ((bytes[i] >> 4) - Q4Block.Offset);
            }
        }
    }
}
