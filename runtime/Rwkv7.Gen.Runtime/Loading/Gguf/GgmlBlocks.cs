using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Rwkv7.Gen.Loading.Gguf;

/// <summary>
/// Decodes the ggml block formats this project reads into fp32, value for value as ggml's reference
/// <c>dequantize_row_*</c> functions compute them (same fp32 operations in the same order), and converts the formats
/// that share this engine's block layout into its packed 8- and 4-bit rows without changing a value. Blocks run along a
/// row (the GGUF dims[0]); a row never shares a block with the next. Layouts, per block:
/// <list type="bullet">
/// <item>Q8_0 (34 bytes / 32 values): fp16 d, int8 q[32]; value = d × q.</item>
/// <item>Q4_0 (18 / 32): fp16 d, byte j holds value j (low nibble) and j + 16 (high nibble); value = d × (nibble − 8).</item>
/// <item>Q4_1 (20 / 32): fp16 d, fp16 m, nibbles as Q4_0; value = d × nibble + m.</item>
/// <item>Q5_0 (22 / 32): fp16 d, uint32 qh (bit j = fifth bit of value j), nibbles as Q4_0; value = d × (q − 16).</item>
/// <item>Q5_1 (24 / 32): fp16 d, fp16 m, qh, nibbles; value = d × q + m.</item>
/// <item>Q4_K (144 / 256): fp16 d, fp16 dmin, 12 bytes of 6-bit scales and minimums for eight sub-blocks of 32, 128
/// bytes of nibbles in four groups of 32 bytes (group g: low nibbles = sub-block 2g, high = 2g + 1);
/// value = d·scale × q − dmin·min.</item>
/// <item>Q5_K (176 / 256): as Q4_K with 32 bytes qh after the scales (bit 2g and 2g + 1 of qh[l] are the fifth bits
/// of value l of sub-blocks 2g and 2g + 1).</item>
/// <item>Q6_K (210 / 256): ql[128] low nibbles, qh[64] high two bits, int8 scales[16] (one per 16 values), fp16 d
/// last; two halves of 128 values; value = d·scale × (q − 32).</item>
/// </list>
/// </summary>
internal static class GgmlBlocks
{
    private const int HalfBlock = GgmlTypes.SmallBlock / 2;
    private const int Q4Bias = 8;
    private const int Q5Bias = 16;
    private const int Q6Bias = 32;
    private const int KSubBlocks = GgmlTypes.SuperBlock / GgmlTypes.SmallBlock;
    private const int KScaleBytes = 12;
    private const int Q6SubBlock = 16;

    /// <summary>Decodes <paramref name="values"/>.Length values (whole blocks) of <paramref name="type"/> from <paramref name="blocks"/>.</summary>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> blocks, Span<float> values)
    {
        GgmlTypes.TryGetLayout(type, out int blockValues, out int blockBytes);
        int count = values.Length / blockValues;
        for (int b = 0; b < count; b++)
        {
            ReadOnlySpan<byte> block = blocks.Slice(b * blockBytes, blockBytes);
            Span<float> output = values.Slice(b * blockValues, blockValues);
            switch (type)
            {
                case GgmlType.F32: output[0] = BinaryPrimitives.ReadSingleLittleEndian(block); break;
                case GgmlType.F16: output[0] = (float)BinaryPrimitives.ReadHalfLittleEndian(block); break;
                case GgmlType.BF16: output[0] = BFloat16Conversions.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(block)); break;
                case GgmlType.Q8_0: Q8_0(block, output); break;
                case GgmlType.Q4_0: Q4_0(block, output); break;
                case GgmlType.Q4_1: Q4_1(block, output); break;
                case GgmlType.Q5_0: Q5_0(block, output); break;
                case GgmlType.Q5_1: Q5_1(block, output); break;
                case GgmlType.Q4_K: Q4_K(block, output); break;
                case GgmlType.Q5_K: Q5_K(block, output); break;
                case GgmlType.Q6_K: Q6_K(block, output); break;
                default: throw new ArgumentException($"{GgmlTypes.Name(type)} cannot be decoded.", nameof(type));
            }
        }
    }

    /// <summary>
    /// Converts one file row of <paramref name="type"/> into this engine's packed row of <paramref name="packed"/>
    /// (<see cref="Q8Block"/> or <see cref="Q4Block"/> layout: the values, then one fp32 scale per block of 32), without
    /// changing any value (<see cref="GgmlTypes.PacksExactly"/> must hold). The fp16 scales widen exactly to fp32.
    /// </summary>
    public static void ToPackedRow(GgmlType type, ReadOnlySpan<byte> fileRow, TensorDType packed, Span<byte> packedRow, int cols)
    {
        GgmlTypes.TryGetLayout(type, out _, out int blockBytes);
        int blocks = cols / GgmlTypes.SmallBlock;
        int valueBytes = packed == TensorDType.Q4 ? cols / 2 : cols;
        Span<float> scales = MemoryMarshal.Cast<byte, float>(packedRow.Slice(valueBytes, blocks * sizeof(float)));
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = fileRow.Slice(b * blockBytes, blockBytes);
            scales[b] = Scale(block);
            if (packed == TensorDType.Q4)
            {
                // Q4_0 → 4-bit: the same nibbles, both storing q + 8 with value i in the low nibble of byte i (grouped below).
                block.Slice(sizeof(ushort), Q4Block.PackedBytes).CopyTo(packedRow.Slice(b * Q4Block.PackedBytes, Q4Block.PackedBytes));
                continue;
            }

            Span<sbyte> q = MemoryMarshal.Cast<byte, sbyte>(packedRow.Slice(b * Q8Block.Size, Q8Block.Size));
            switch (type)
            {
                case GgmlType.Q8_0:
                    MemoryMarshal.Cast<byte, sbyte>(block.Slice(sizeof(ushort), Q8Block.Size)).CopyTo(q);
                    break;
                case GgmlType.Q4_0:
                    ReadOnlySpan<byte> nibbles = block.Slice(sizeof(ushort), HalfBlock);
                    for (int j = 0; j < HalfBlock; j++)
                    {
                        q[j] = (sbyte)((nibbles[j] & 0xF) - Q4Bias);
                        q[j + HalfBlock] = (sbyte)((nibbles[j] >> 4) - Q4Bias);
                    }

                    break;
                case GgmlType.Q5_0:
                    Q5_0Integers(block, q);
                    break;
                default:
                    throw new ArgumentException($"{GgmlTypes.Name(type)} rows do not convert exactly to {packed.DisplayName()}.", nameof(type));
            }
        }

        if (packed == TensorDType.Q4)
        {
            // Copied block by block above; the engine's rows store them in groups.
            Q4Block.Group(packedRow[..valueBytes]);
        }
    }

    /// <summary>The fp16 scale d at the start of a 32-value block, widened.</summary>
    private static float Scale(ReadOnlySpan<byte> block) => (float)BinaryPrimitives.ReadHalfLittleEndian(block);

    private static float HalfAt(ReadOnlySpan<byte> block, int offset) => (float)BinaryPrimitives.ReadHalfLittleEndian(block[offset..]);

    private static void Q8_0(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Scale(block);
        ReadOnlySpan<sbyte> q = MemoryMarshal.Cast<byte, sbyte>(block.Slice(sizeof(ushort), GgmlTypes.SmallBlock));
        for (int j = 0; j < GgmlTypes.SmallBlock; j++)
        {
            y[j] = q[j] * d;
        }
    }

    private static void Q4_0(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Scale(block);
        ReadOnlySpan<byte> qs = block.Slice(sizeof(ushort), HalfBlock);
        for (int j = 0; j < HalfBlock; j++)
        {
            y[j] = ((qs[j] & 0xF) - Q4Bias) * d;
            y[j + HalfBlock] = ((qs[j] >> 4) - Q4Bias) * d;
        }
    }

    private static void Q4_1(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Scale(block), m = HalfAt(block, sizeof(ushort));
        ReadOnlySpan<byte> qs = block.Slice(2 * sizeof(ushort), HalfBlock);
        for (int j = 0; j < HalfBlock; j++)
        {
            y[j] = ((qs[j] & 0xF) * d) + m;
            y[j + HalfBlock] = ((qs[j] >> 4) * d) + m;
        }
    }

    /// <summary>The 5-bit integers (q − 16, in −16…15) of a Q5_0 block, in value order.</summary>
    private static void Q5_0Integers(ReadOnlySpan<byte> block, Span<sbyte> q)
    {
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block[sizeof(ushort)..]);
        ReadOnlySpan<byte> qs = block.Slice(sizeof(ushort) + sizeof(uint), HalfBlock);
        for (int j = 0; j < HalfBlock; j++)
        {
            q[j] = (sbyte)(((qs[j] & 0xF) | FifthBit(qh, j)) - Q5Bias);
            q[j + HalfBlock] = (sbyte)(((qs[j] >> 4) | FifthBit(qh, j + HalfBlock)) - Q5Bias);
        }
    }

    /// <summary>Bit <paramref name="index"/> of <paramref name="qh"/> as the value 16 or 0.</summary>
    private static int FifthBit(uint qh, int index) => (int)((qh >> index) & 1) << 4;

    private static void Q5_0(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Scale(block);
        Span<sbyte> q = stackalloc sbyte[GgmlTypes.SmallBlock];
        Q5_0Integers(block, q);
        for (int j = 0; j < GgmlTypes.SmallBlock; j++)
        {
            y[j] = q[j] * d;
        }
    }

    private static void Q5_1(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Scale(block), m = HalfAt(block, sizeof(ushort));
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block[(2 * sizeof(ushort))..]);
        ReadOnlySpan<byte> qs = block.Slice((2 * sizeof(ushort)) + sizeof(uint), HalfBlock);
        for (int j = 0; j < HalfBlock; j++)
        {
            y[j] = (((qs[j] & 0xF) | FifthBit(qh, j)) * d) + m;
            y[j + HalfBlock] = (((qs[j] >> 4) | FifthBit(qh, j + HalfBlock)) * d) + m;
        }
    }

    /// <summary>ggml's <c>get_scale_min_k4</c>: the 6-bit scale and minimum of sub-block <paramref name="j"/> (0…7).</summary>
    private static (int Scale, int Min) ScaleMinK4(int j, ReadOnlySpan<byte> q) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    private static void Q4_K(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = HalfAt(block, 0), dmin = HalfAt(block, sizeof(ushort));
        ReadOnlySpan<byte> scales = block.Slice(2 * sizeof(ushort), KScaleBytes);
        ReadOnlySpan<byte> qs = block.Slice((2 * sizeof(ushort)) + KScaleBytes, GgmlTypes.SuperBlock / 2);
        for (int g = 0; g < KSubBlocks / 2; g++)
        {
            (int sc1, int m1) = ScaleMinK4(2 * g, scales);
            (int sc2, int m2) = ScaleMinK4((2 * g) + 1, scales);
            float d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
            ReadOnlySpan<byte> q = qs.Slice(g * GgmlTypes.SmallBlock, GgmlTypes.SmallBlock);
            Span<float> o = y.Slice(g * 2 * GgmlTypes.SmallBlock, 2 * GgmlTypes.SmallBlock);
            for (int l = 0; l < GgmlTypes.SmallBlock; l++)
            {
                o[l] = (d1 * (q[l] & 0xF)) - min1;
                o[l + GgmlTypes.SmallBlock] = (d2 * (q[l] >> 4)) - min2;
            }
        }
    }

    private static void Q5_K(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = HalfAt(block, 0), dmin = HalfAt(block, sizeof(ushort));
        ReadOnlySpan<byte> scales = block.Slice(2 * sizeof(ushort), KScaleBytes);
        ReadOnlySpan<byte> qh = block.Slice((2 * sizeof(ushort)) + KScaleBytes, GgmlTypes.SmallBlock);
        ReadOnlySpan<byte> qs = block.Slice((2 * sizeof(ushort)) + KScaleBytes + GgmlTypes.SmallBlock, GgmlTypes.SuperBlock / 2);
        for (int g = 0; g < KSubBlocks / 2; g++)
        {
            (int sc1, int m1) = ScaleMinK4(2 * g, scales);
            (int sc2, int m2) = ScaleMinK4((2 * g) + 1, scales);
            float d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
            int lowBit = 1 << (2 * g), highBit = 2 << (2 * g);
            ReadOnlySpan<byte> q = qs.Slice(g * GgmlTypes.SmallBlock, GgmlTypes.SmallBlock);
            Span<float> o = y.Slice(g * 2 * GgmlTypes.SmallBlock, 2 * GgmlTypes.SmallBlock);
            for (int l = 0; l < GgmlTypes.SmallBlock; l++)
            {
                o[l] = (d1 * ((q[l] & 0xF) + ((qh[l] & lowBit) != 0 ? Q5Bias : 0))) - min1;
                o[l + GgmlTypes.SmallBlock] = (d2 * ((q[l] >> 4) + ((qh[l] & highBit) != 0 ? Q5Bias : 0))) - min2;
            }
        }
    }

    private static void Q6_K(ReadOnlySpan<byte> block, Span<float> y)
    {
        const int half = GgmlTypes.SuperBlock / 2, quarter = half / 4;
        ReadOnlySpan<byte> ql = block[..half];
        ReadOnlySpan<byte> qh = block.Slice(half, half / 2);
        ReadOnlySpan<sbyte> sc = MemoryMarshal.Cast<byte, sbyte>(block.Slice(half + (half / 2), GgmlTypes.SuperBlock / Q6SubBlock));
        float d = HalfAt(block, half + (half / 2) + (GgmlTypes.SuperBlock / Q6SubBlock));
        for (int h = 0; h < 2; h++)
        {
            ReadOnlySpan<byte> l4 = ql.Slice(h * (half / 2), half / 2);
            ReadOnlySpan<byte> h2 = qh.Slice(h * quarter, quarter);
            ReadOnlySpan<sbyte> s = sc.Slice(h * 8, 8);
            Span<float> o = y.Slice(h * half, half);
            for (int l = 0; l < quarter; l++)
            {
                int sub = l / Q6SubBlock;
                int q1 = ((l4[l] & 0xF) | (((h2[l] >> 0) & 3) << 4)) - Q6Bias;
                int q2 = ((l4[l + quarter] & 0xF) | (((h2[l] >> 2) & 3) << 4)) - Q6Bias;
                int q3 = ((l4[l] >> 4) | (((h2[l] >> 4) & 3) << 4)) - Q6Bias;
                int q4 = ((l4[l + quarter] >> 4) | (((h2[l] >> 6) & 3) << 4)) - Q6Bias;
                o[l] = d * s[sub] * q1;
                o[l + quarter] = d * s[sub + 2] * q2;
                o[l + (2 * quarter)] = d * s[sub + 4] * q3;
                o[l + (3 * quarter)] = d * s[sub + 6] * q4;
            }
        }
    }
}
