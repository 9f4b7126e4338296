using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Loading.Gguf;
using Rwkv7.Gen.Tests.Infrastructure;
using static Rwkv7.Gen.Tests.Infrastructure.CheckpointComparison;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// GGUF files open as the canonical tensors of the checkpoints they were made from (the converter's changes undone),
/// with their metadata and vocabulary; the block formats decode as their layouts say.
/// </summary>
public sealed class GgufReaderTests
{
    public static TheoryData<string, string> ExactCopies() => new()
    {
        { Models.TinyF32Gguf, Models.TinyF32Safetensors },
        { Models.TinyBf16Gguf, Models.TinyF32Safetensors },
        { Models.Mh4Bf16Gguf, Models.Mh4Safetensors },
    };

    [Theory]
    [MemberData(nameof(ExactCopies))]
    public void F32_and_bf16_files_hold_the_checkpoints_values_bit_for_bit(string gguf, string checkpoint)
    {
        AssertSameValues(checkpoint, gguf, roundToHalf: _ => false, sameOrder: false);
    }

    [Fact]
    public void F16_file_holds_the_fp16_rounding_of_the_matrices_and_exact_vectors()
    {
        // The converter rounds 2-D tensors to fp16 except time_mix_w1/w2, which stay F32 (fixtures README).
        AssertSameValues(Models.TinyF32Safetensors, Models.TinyF16Gguf, roundToHalf: t => t.DType == TensorDType.F16, sameOrder: false);
        using Checkpoint f16 = Checkpoint.Open(Fixtures.Path(Models.TinyF16Gguf));
        Assert.Equal(TensorDType.F32, f16.Find("blocks.3.att.w1")!.DType);
        Assert.Equal(TensorDType.F16, f16.Find("blocks.3.att.a1")!.DType);
    }

    [Theory]
    [InlineData(Models.TinyQ4Gguf)]
    [InlineData(Models.Mh4Q4KmGguf)]
    public void Quantized_files_open_as_canonical_fp32_tensors_with_the_placeholders_dropped(string file)
    {
        using Checkpoint checkpoint = Checkpoint.Open(Fixtures.Path(file));
        ModelShape shape = Models.IsMh4(file) ? FixtureShapes.Mh4 : FixtureShapes.Tiny;
        Assert.Equal(CheckpointFormat.Gguf, checkpoint.Format);
        Assert.Equal(
            CanonicalTensors.For(shape).Select(t => t.Name).Order(StringComparer.Ordinal),
            checkpoint.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (CanonicalTensor want in CanonicalTensors.For(shape))
        {
            CheckpointTensor have = checkpoint.Find(want.Name)!;
            Assert.True(want.Shape.SequenceEqual(have.Shape), $"{want.Name}: expected {CheckpointTensor.FormatShape(want.Shape)}, got {have.ShapeText}");
        }

        Assert.IsAssignableFrom<IBlockQuantizedTensor>(checkpoint.Find("head.weight"));
        Assert.Equal(TensorDType.F32, checkpoint.Find("blocks.1.att.key.weight")!.DType);
        Assert.Null(checkpoint.Find("blocks.0.att.v1"));
    }

    [Fact]
    public void Metadata_that_matters_is_read()
    {
        using Checkpoint mh4 = Checkpoint.Open(Fixtures.Path(Models.Mh4Q4KmGguf));
        GgufModelInfo info = mh4.Gguf!;
        Assert.Equal(3, info.Version);
        Assert.Equal("rwkv7", info.Architecture);
        Assert.Equal("rwkv7-mh4-random", info.Name);
        Assert.Equal((15, "MOSTLY_Q4_K_M"), (info.FileType, info.FileTypeName));
        Assert.Equal(1_048_576, info.ContextLength);
        Assert.Equal(("rwkv", 512, true), (info.TokenizerModel, info.TokenCount, info.HasWorldVocabulary));
        Assert.Equal(GgufChatTemplate.RwkvWorld, info.ChatTemplateKind);
        Assert.Equal(90, info.Tensors.Count);
        Assert.Equal(GgmlType.Q6_K, info.Tensors.Single(t => t.GgufName == "output.weight").Type);
        Assert.Equal("head.weight", info.Tensors.Single(t => t.GgufName == "output.weight").CanonicalName);
        Assert.Null(info.Tensors.Single(t => t.GgufName == "blk.0.time_mix_v1.weight").CanonicalName);
        Assert.Equal(19, info.Tensors.Count(t => t.Type == GgmlType.Q4_K));

        using Checkpoint tiny = Checkpoint.Open(Fixtures.Path(Models.TinyF32Gguf));
        Assert.Equal((0, "ALL_F32", 256, GgufChatTemplate.None), (tiny.Gguf!.FileType, tiny.Gguf.FileTypeName, tiny.Gguf.TokenCount, tiny.Gguf.ChatTemplateKind));

        using Checkpoint pth = Checkpoint.Open(Fixtures.Path(Models.TinyBf16Pth));
        Assert.Null(pth.Gguf);
    }

    [Theory]
    [InlineData("rwkv-world", GgufChatTemplate.RwkvWorld)]
    [InlineData("{%- for message in messages -%}{{- 'User: ' + message['content']|trim + '\\n\\n' -}}{{- 'Assistant:' -}}", GgufChatTemplate.RwkvWorld)]
    [InlineData("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>{% endfor %}", GgufChatTemplate.Unrecognized)]
    [InlineData(null, GgufChatTemplate.None)]
    public void Chat_templates_are_recognised_like_llama_cpp_does(string? template, GgufChatTemplate expected)
    {
        Assert.Equal(expected, GgufModelInfo.ClassifyChatTemplate(template));
    }

    [Fact]
    public void The_files_world_vocabulary_has_the_vocabulary_files_tokens()
    {
        // mh4's list is the World vocabulary cut to 512 entries: '<s>' (control, no bytes), then lines 1 to 511.
        using Checkpoint checkpoint = Checkpoint.Open(Fixtures.Path(Models.Mh4Q4KmGguf));
        WorldTokenizer fromFile = checkpoint.Gguf!.CreateWorldTokenizer();
        WorldTokenizer fromText = WorldTokenizer.Load(Fixtures.Path("tokenizer/rwkv_vocab_v20230424.txt"));
        Assert.Equal(512, fromFile.VocabularySize);
        Assert.Equal(511, fromFile.EntryCount);
        Assert.True(fromFile.GetTokenBytes(0).IsEmpty);
        for (int id = 1; id < 512; id++)
        {
            Assert.True(fromText.GetTokenBytes(id).SequenceEqual(fromFile.GetTokenBytes(id)), $"token {id}");
        }

        Assert.Equal([(int)'\n' + 1], Encode(fromFile, "\n")); // byte b is id b + 1
        byte[] text = "Hello, \"world\" \\ \t\r\n\u00e9"u8.ToArray();
        int[] ids = Encode(fromFile, text);
        Assert.Equal(text, ids.SelectMany(id => fromFile.GetTokenBytes(id).ToArray()));
        Assert.Contains(ids, id => id > 256); // two-byte tokens are used
    }

    [Fact]
    public void Files_without_a_world_vocabulary_say_so()
    {
        using Checkpoint tiny = Checkpoint.Open(Fixtures.Path(Models.TinyQ8Gguf));
        Assert.True(tiny.Gguf!.HasWorldVocabulary); // a byte-level list, under the rwkv tokenizer model
        Assert.Equal(256, tiny.Gguf.CreateWorldTokenizer().VocabularySize);
    }

    [Fact]
    public void Small_block_formats_decode_as_their_layouts_say()
    {
        var rng = new Random(23);
        int[] q = Enumerable.Range(0, 32).Select(_ => rng.Next(32)).ToArray();
        Half d = (Half)0.0123f, m = (Half)(-0.25f);
        float[] values = new float[32];

        // Q4_1: fp16 d, fp16 m, nibbles (value j low, value j + 16 high); value = d·q + m.
        byte[] q41 = new byte[20];
        BinaryPrimitives.WriteHalfLittleEndian(q41, d);
        BinaryPrimitives.WriteHalfLittleEndian(q41.AsSpan(2), m);
        PackNibbles(q.Select(x => x & 15).ToArray(), q41.AsSpan(4));
        GgmlBlocks.Dequantize(GgmlType.Q4_1, q41, values);
        Assert.Equal(q.Select(x => ((x & 15) * (float)d) + (float)m), values);

        // Q5_0: fp16 d, uint32 of fifth bits, nibbles; value = d·(q − 16).
        byte[] q50 = new byte[22];
        BinaryPrimitives.WriteHalfLittleEndian(q50, d);
        BinaryPrimitives.WriteUInt32LittleEndian(q50.AsSpan(2), FifthBits(q));
        PackNibbles(q.Select(x => x & 15).ToArray(), q50.AsSpan(6));
        GgmlBlocks.Dequantize(GgmlType.Q5_0, q50, values);
        Assert.Equal(q.Select(x => (x - 16) * (float)d), values);
        AssertPacksExactly(GgmlType.Q5_0, q50, TensorDType.Q8);

        // Q5_1: fp16 d, fp16 m, fifth bits, nibbles; value = d·q + m.
        byte[] q51 = new byte[24];
        BinaryPrimitives.WriteHalfLittleEndian(q51, d);
        BinaryPrimitives.WriteHalfLittleEndian(q51.AsSpan(2), m);
        BinaryPrimitives.WriteUInt32LittleEndian(q51.AsSpan(4), FifthBits(q));
        PackNibbles(q.Select(x => x & 15).ToArray(), q51.AsSpan(8));
        GgmlBlocks.Dequantize(GgmlType.Q5_1, q51, values);
        Assert.Equal(q.Select(x => (x * (float)d) + (float)m), values);

        // Q4_0 converts exactly to both packed types.
        byte[] q40 = new byte[18];
        BinaryPrimitives.WriteHalfLittleEndian(q40, d);
        PackNibbles(q.Select(x => x & 15).ToArray(), q40.AsSpan(2));
        AssertPacksExactly(GgmlType.Q4_0, q40, TensorDType.Q4);
        AssertPacksExactly(GgmlType.Q4_0, q40, TensorDType.Q8);
        Assert.False(GgmlTypes.PacksExactly(GgmlType.Q4_1, TensorDType.Q4));
        Assert.False(GgmlTypes.PacksExactly(GgmlType.Q6_K, TensorDType.Q8));
    }

    [Fact]
    public void Q5_K_decodes_as_its_layout_says()
    {
        // Super-block of 256: fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins (get_scale_min_k4's packing), 32 bytes of
        // fifth bits (bit 2g / 2g + 1 of qh[l] for value l of sub-block 2g / 2g + 1), 128 bytes of nibbles.
        var rng = new Random(7);
        int[] sc = Enumerable.Range(0, 8).Select(_ => rng.Next(64)).ToArray();
        int[] mn = Enumerable.Range(0, 8).Select(_ => rng.Next(64)).ToArray();
        int[] q = Enumerable.Range(0, 256).Select(_ => rng.Next(32)).ToArray();
        Half d = (Half)0.002f, dmin = (Half)0.0007f;
        byte[] block = new byte[176];
        BinaryPrimitives.WriteHalfLittleEndian(block, d);
        BinaryPrimitives.WriteHalfLittleEndian(block.AsSpan(2), dmin);
        Span<byte> scales = block.AsSpan(4, 12), qh = block.AsSpan(16, 32), qs = block.AsSpan(48, 128);
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                scales[j] |= (byte)sc[j];
                scales[j + 4] |= (byte)mn[j];
            }
            else
            {
                scales[j + 4] = (byte)((sc[j] & 15) | ((mn[j] & 15) << 4));
                scales[j - 4] |= (byte)((sc[j] >> 4) << 6);
                scales[j] |= (byte)((mn[j] >> 4) << 6);
            }
        }

        for (int g = 0; g < 4; g++)
        {
            for (int l = 0; l < 32; l++)
            {
                int low = q[(64 * g) + l], high = q[(64 * g) + 32 + l];
                qs[(32 * g) + l] = (byte)((low & 15) | ((high & 15) << 4));
                qh[l] |= (byte)(((low >> 4) << (2 * g)) | ((high >> 4) << ((2 * g) + 1)));
            }
        }

        float[] values = new float[256];
        GgmlBlocks.Dequantize(GgmlType.Q5_K, block, values);
        for (int i = 0; i < 256; i++)
        {
            int sub = i / 32;
            float expected = ((float)d * sc[sub] * q[i]) - ((float)dmin * mn[sub]);
            Assert.True(expected == values[i], $"value {i}: expected {expected}, got {values[i]}");
        }
    }

    private static void AssertPacksExactly(GgmlType type, byte[] block, TensorDType packed)
    {
        float[] decoded = new float[32], unpacked = new float[32];
        GgmlBlocks.Dequantize(type, block, decoded);
        byte[] row = new byte[packed == TensorDType.Q4 ? Q4Block.RowBytes(32) : Q8Block.RowBytes(32)];
        GgmlBlocks.ToPackedRow(type, block, packed, row, 32);
        if (packed == TensorDType.Q4)
        {
            Weights.Q4Quantizer.DequantizeRow(row.AsSpan(0, 16), MemoryMarshal.Cast<byte, float>(row.AsSpan(16)), unpacked);
        }
        else
        {
            Weights.Q8Quantizer.DequantizeRow(MemoryMarshal.Cast<byte, sbyte>(row.AsSpan(0, 32)), MemoryMarshal.Cast<byte, float>(row.AsSpan(32)), unpacked);
        }

        Assert.Equal(decoded, unpacked);
    }

    private static void PackNibbles(int[] nibbles, Span<byte> bytes)
    {
        for (int j = 0; j < 16; j++)
        {
            bytes[j] = (byte)(nibbles[j] | (nibbles[j + 16] << 4));
        }
    }

    private static uint FifthBits(int[] q)
    {
        uint bits = 0;
        for (int j = 0; j < 32; j++)
        {
            bits |= (uint)(q[j] >> 4) << j;
        }

        return bits;
    }

    private static int[] Encode(RwkvTokenizer tokenizer, string text) => Encode(tokenizer, System.Text.Encoding.UTF8.GetBytes(text));

    private static int[] Encode(RwkvTokenizer tokenizer, byte[] utf8)
    {
        int[] ids = new int[utf8.Length];
        return ids[..tokenizer.EncodeUtf8(utf8, ids)];
    }
}
