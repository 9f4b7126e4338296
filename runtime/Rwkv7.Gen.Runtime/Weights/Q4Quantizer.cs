using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// 4-bit quantization in blocks of <see cref="Q4Block.Size"/> values along a row. Each block's scale maps its
/// value of largest magnitude, m, to −8: scale = m / −8 and q = round(w / scale), clamped to −8…7, so value =
/// scale × q (as GGML's Q4_0). m is represented exactly and every value is within |scale| / 2 of the original, except
/// those of the opposite sign beyond 7.5 steps, clamped to 7, which are within one step: sixteen levels and a step of
/// |m| / 8, where a symmetric −7…7 range would have fifteen and a step of |m| / 7. Values are stored as q + 8, two to a byte: value i of a block
/// in the low nibble of byte i, value i + 16 in its high nibble, so that one 16-byte load and a shift give the block.
/// </summary>
public static class Q4Quantizer
{
    /// <summary>Quantizes one row; <paramref name="row"/>.Length must be a multiple of the block size.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> row, Span<byte> packed, Span<float> scales)
    {
        const int size = Q4Block.Size, half = size / 2;
        if (row.Length % size != 0 || packed.Length < row.Length / 2 || scales.Length < row.Length / size)
        {
            throw new ArgumentException($"Q4 rows are whole blocks of {size}; got a row of {row.Length}.");
        }

        Span<int> q = stackalloc int[size];
        for (int b = 0; b < row.Length / size; b++)
        {
            ReadOnlySpan<float> block = row.Slice(b * size, size);
            float extreme = 0;
            foreach (float v in block)
            {
                if (MathF.Abs(v) > MathF.Abs(extreme))
                {
                    extreme = v;
                }
            }

            float scale = extreme / -Q4Block.Offset;
            float inverse = scale == 0 ? 0 : 1 / scale;
            scales[b] = scale;
            for (int i = 0; i < size; i++)
            {
                q[i] = Math.Clamp((int)MathF.Round(block[i] * inverse), -Q4Block.Offset, Q4Block.Offset - 1) + Q4Block.Offset;
            }

            Span<byte> bytes = packed.Slice(b * Q4Block.PackedBytes, Q4Block.PackedBytes);
            for (int i = 0; i < half; i++)
            {
                bytes[i] = (byte)(q[i] | (q[i + half] << 4));
            }
        }
    }

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
