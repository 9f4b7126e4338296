using System.Buffers.Binary;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Loading.Support;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// GGUF files with lying counts and lengths, offsets past the end, misaligned or overlapping data, unknown types,
/// duplicate names, contradicting metadata or cut short anywhere: each is a typed one-line error naming the file (and
/// the key or tensor), never a crash, hang or allocation beyond the file's size.
/// </summary>
public sealed class GgufErrorTests
{
    /// <summary>The Q4_0 tiny file: every kind of tensor (F32, F16, Q8_0, Q4_0) in under a megabyte.</summary>
    private const string Source = Models.TinyQ4Gguf;

    private static GgufModel Fixture() => TestGguf.Parse(FixtureBytes.Get(Source));

    private static RwkvFormatException Rejected(GgufModel model, Func<int, ulong, ulong>? offsetOf = null, ulong? tensorCount = null, ulong? kvCount = null)
    {
        using var file = new TempFile(TestGguf.Write(model, offsetOf, tensorCount, kvCount), ".gguf");
        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    private static RwkvFormatException Patched(Action<byte[]> patch)
    {
        using TempFile file = TempFile.CopyOf(Source, patch);
        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void The_test_writer_reproduces_the_fixture_byte_for_byte()
    {
        // The crafted files below differ from the fixture only where each test changes it.
        Assert.Equal(FixtureBytes.Get(Source), TestGguf.Write(Fixture()));
    }

    [Theory]
    [InlineData(1u, "GGUF version 1 is not supported, only 2 and 3 (version 1 used 32-bit counts")]
    [InlineData(4u, "GGUF version 4 is not supported")]
    [InlineData(0x03000000u, "(a big-endian file")]
    public void Unsupported_versions_are_refused(uint version, string detail)
    {
        Assert.Contains(detail, Patched(b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), version)).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Version_2_files_read_like_version_3()
    {
        using TempFile file = TempFile.CopyOf(Source, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 2));
        using Checkpoint checkpoint = Checkpoint.Open(file.Path);
        Assert.Equal(2, checkpoint.Gguf!.Version);
    }

    [Theory]
    [InlineData(8, "the header claims 1152921504606846976 tensors")]
    [InlineData(16, "the header claims 1152921504606846976 metadata keys")]
    public void Lying_counts_are_refused_before_anything_is_allocated(int field, string detail)
    {
        Assert.Contains(detail, Patched(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(field), 1UL << 60)).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tensor_count_larger_than_the_table_runs_into_the_data()
    {
        GgufModel model = Fixture();
        RwkvFormatException e = Rejected(model, tensorCount: (ulong)model.Tensors.Count + 1);
        Assert.Contains("tensor #", e.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1UL << 62, "claims 4611686018427387904 bytes; at most 65535 are accepted")]
    [InlineData(65536UL, "claims 65536 bytes; at most 65535 are accepted")]
    public void Lying_key_lengths_are_refused(ulong length, string detail)
    {
        RwkvFormatException e = Patched(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), length));
        Assert.Contains("metadata key #0 " + detail, e.Detail, StringComparison.Ordinal);
        Assert.Equal(24, e.Offset);
    }

    [Fact]
    public void Lying_string_and_array_lengths_are_refused_by_key()
    {
        GgufModel model = Fixture();
        int name = model.Metadata.FindIndex(kv => kv.Key == "general.name");
        byte[] value = (byte[])model.Metadata[name].Value.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(value, 5_000_000);
        model.Metadata[name] = model.Metadata[name] with { Value = value };
        Assert.Contains("the value of metadata key 'general.name' claims 5000000 bytes but only", Rejected(model).Detail, StringComparison.Ordinal);

        model = Fixture();
        int tokens = model.Metadata.FindIndex(kv => kv.Key == "tokenizer.ggml.tokens");
        value = (byte[])model.Metadata[tokens].Value.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(value.AsSpan(4), 1UL << 40);
        model.Metadata[tokens] = model.Metadata[tokens] with { Value = value };
        Assert.Contains("the array of metadata key 'tokenizer.ggml.tokens' claims 1099511627776 elements of STRING", Rejected(model).Detail, StringComparison.Ordinal);

        model = Fixture();
        value = (byte[])model.Metadata[tokens].Value.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(value.AsSpan(12), 1UL << 33); // the first token's length
        model.Metadata[tokens] = model.Metadata[tokens] with { Value = value };
        Assert.Contains("string 0 of the array of metadata key 'tokenizer.ggml.tokens' claims 8589934592 bytes", Rejected(model).Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(13u, "metadata key 'general.name' has value type 13, which GGUF does not define")]
    [InlineData(uint.MaxValue, "has value type 4294967295")]
    public void Unknown_value_types_are_refused(uint type, string detail)
    {
        GgufModel model = Fixture();
        int name = model.Metadata.FindIndex(kv => kv.Key == "general.name");
        model.Metadata[name] = model.Metadata[name] with { Type = type };
        Assert.Contains(detail, Rejected(model).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_array_element_types_and_deep_nesting_are_refused()
    {
        GgufModel model = Fixture();
        model.Metadata.Add(GgufKv.Array("test.odd", 77, 1, new byte[8]));
        Assert.Contains("the array of metadata key 'test.odd' has element type 77", Rejected(model).Detail, StringComparison.Ordinal);

        // Arrays of arrays nested five deep.
        byte[] inner = [];
        for (int depth = 0; depth < 5; depth++)
        {
            byte[] wrapped = new byte[12 + inner.Length];
            BinaryPrimitives.WriteUInt32LittleEndian(wrapped, depth == 0 ? 4u : 9u);
            BinaryPrimitives.WriteUInt64LittleEndian(wrapped.AsSpan(4), depth == 0 ? 0UL : 1UL);
            inner.CopyTo(wrapped, 12);
            inner = wrapped;
        }

        model = Fixture();
        model.Metadata.Add(new GgufKv("test.deep", 9, inner));
        Assert.Contains("nests arrays more than 4 deep", Rejected(model).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_keys_and_tensor_names_are_refused()
    {
        GgufModel model = Fixture();
        model.Metadata.Add(GgufKv.String("general.name", "again"));
        Assert.Contains("metadata key 'general.name' appears twice", Rejected(model).Detail, StringComparison.Ordinal);

        model = Fixture();
        model.Tensors.Add(model.Tensors[^1]);
        Assert.Contains($"tensor '{model.Tensors[^1].Name}' appears twice in the tensor table", Rejected(model).Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(16u, "has type IQ2_XXS (16), which Rwkv7.Gen does not read")]
    [InlineData(10u, "has type Q2_K (10), which Rwkv7.Gen does not read")]
    [InlineData(4u, "has type 4, which ggml does not define")]
    [InlineData(1000u, "has type 1000, which ggml does not define")]
    public void Unsupported_tensor_types_are_refused_by_tensor_and_type(uint type, string detail)
    {
        GgufModel model = Fixture();
        int key = model.Tensors.FindIndex(t => t.Name == "blk.3.time_mix_key.weight");
        model.Tensors[key] = model.Tensors[key] with { Type = type };
        Assert.Contains("tensor 'blk.3.time_mix_key.weight' " + detail, Rejected(model).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Absurd_dimensions_are_refused_by_tensor()
    {
        foreach ((ulong[] dims, string detail) in new (ulong[], string)[]
        {
            ([], "claims 0 dimensions; GGUF tensors have 1 to 4"),
            ([64, 1, 1, 1, 1], "claims 5 dimensions"),
            ([64, 0], "has a dimension of size 0"),
            ([64, 1UL << 40], "has a dimension of size 1099511627776"),
            ([48, 64], "is Q4_0 with rows of 48 values, not whole blocks of 32"),
            ([1 << 30, 1 << 30], "needs 648518346341351424 bytes at data offset"),
        })
        {
            GgufModel model = Fixture();
            int key = model.Tensors.FindIndex(t => t.Name == "blk.3.time_mix_key.weight");
            model.Tensors[key] = model.Tensors[key] with { Dims = dims };
            string message = Rejected(model).Detail;
            Assert.Contains("tensor 'blk.3.time_mix_key.weight' ", message, StringComparison.Ordinal);
            Assert.Contains(detail, message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Offsets_past_the_end_misaligned_or_overlapping_are_refused()
    {
        GgufModel model = Fixture();
        string last = model.Tensors[^1].Name;
        string pastEnd = Rejected(model, (i, o) => i == model.Tensors.Count - 1 ? 1UL << 60 : o).Detail;
        Assert.Contains($"tensor '{last}' (", pastEnd, StringComparison.Ordinal);
        Assert.Contains("at data offset 1152921504606846976, past the end of the file", pastEnd, StringComparison.Ordinal);

        Assert.Contains("which is not a multiple of the alignment 32",
            Rejected(model, (i, o) => i == 5 ? o + 2 : o).Detail, StringComparison.Ordinal);

        Assert.Contains("overlap in the data section", Rejected(model, (i, o) => i == 5 ? 0 : o).Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0u, "a UINT32 power of two")]
    [InlineData(48u, "a UINT32 power of two")]
    public void A_bad_alignment_is_refused_by_key(uint alignment, string detail)
    {
        GgufModel model = Fixture();
        model.Metadata.Add(GgufKv.UInt32("general.alignment", alignment));
        RwkvFormatException e = Rejected(model);
        Assert.Contains("metadata key 'general.alignment' holds the UINT32", e.Detail, StringComparison.Ordinal);
        Assert.Contains(detail, e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_larger_alignment_is_honoured()
    {
        GgufModel model = Fixture();
        model.Metadata.Add(GgufKv.UInt32("general.alignment", 64));
        using var file = new TempFile(TestGguf.Write(model, alignment: 64), ".gguf");
        using Checkpoint aligned = Checkpoint.Open(file.Path);
        using Checkpoint original = Checkpoint.Open(Fixtures.Path(Source));
        foreach (CheckpointTensor t in original.Tensors)
        {
            byte[] expected = new byte[t.ByteLength], actual = new byte[t.ByteLength];
            t.ReadTo(expected);
            aligned.Find(t.Name)!.ReadTo(actual);
            Assert.True(expected.AsSpan().SequenceEqual(actual), t.Name);
        }
    }

    [Theory]
    [InlineData(null, "metadata key 'general.architecture' is missing")]
    [InlineData("llama", "the GGUF architecture is \"llama\"; Rwkv7.Gen runs RWKV-7 models")]
    [InlineData("rwkv6", "the GGUF architecture is \"rwkv6\"")]
    public void Other_architectures_are_refused(string? architecture, string detail)
    {
        GgufModel model = Fixture();
        model.Metadata.RemoveAll(kv => kv.Key == "general.architecture");
        if (architecture is not null)
        {
            model.Metadata.Insert(0, GgufKv.String("general.architecture", architecture));
        }

        Assert.Contains(detail, Rejected(model).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Metadata_of_the_wrong_type_is_refused_by_key()
    {
        GgufModel model = Fixture();
        int blocks = model.Metadata.FindIndex(kv => kv.Key == "rwkv7.block_count");
        model.Metadata[blocks] = GgufKv.String("rwkv7.block_count", "twelve");
        Assert.Contains("metadata key 'rwkv7.block_count' holds the string \"twelve\"; expected a non-negative integer", Rejected(model).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Metadata_that_contradicts_the_tensors_is_listed_in_one_error()
    {
        GgufModel model = Fixture();
        model.Metadata[model.Metadata.FindIndex(kv => kv.Key == "rwkv7.block_count")] = GgufKv.UInt32("rwkv7.block_count", 13);
        model.Metadata[model.Metadata.FindIndex(kv => kv.Key == "rwkv7.embedding_length")] = GgufKv.UInt32("rwkv7.embedding_length", 65);
        string detail = Rejected(model).Detail;
        Assert.Contains("'rwkv7.block_count' says 13 but the tensors cover 12 blocks", detail, StringComparison.Ordinal);
        Assert.Contains("'rwkv7.embedding_length' says 65 but token_embd.weight has rows of 64", detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_last_block_contradicts_the_block_count()
    {
        // Without the check the file would load as an 11-layer model.
        GgufModel model = Fixture();
        model.Tensors.RemoveAll(t => t.Name.StartsWith("blk.11.", StringComparison.Ordinal));
        Assert.Contains("'rwkv7.block_count' says 12 but the tensors cover 11 blocks", Rejected(model).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_and_misshapen_tensors_are_all_listed_under_canonical_names()
    {
        GgufModel model = Fixture();
        model.Tensors.RemoveAll(t => t.Name is "blk.4.channel_mix_value.weight" or "blk.7.time_mix_k_a.weight");
        int fused = model.Tensors.FindIndex(t => t.Name == "blk.2.time_mix_lerp_fused.weight");
        model.Tensors[fused] = model.Tensors[fused] with { Dims = [64, 1, 1, 5], Data = model.Tensors[fused].Data[..(64 * 5 * 4)] };
        int w1 = model.Tensors.FindIndex(t => t.Name == "blk.1.time_mix_w1.weight");
        model.Tensors[w1] = model.Tensors[w1] with { Dims = [32, 64] };
        model.Tensors.Add(new GgufTensor("blk.0.mystery.weight", [64], 0, new byte[256]));
        using var file = new TempFile(TestGguf.Write(model), ".gguf");

        RwkvShapeException e = Assert.IsType<RwkvShapeException>(MalformedFile.AssertRejected(file.Path));

        string[] named = e.Problems.Select(p => p.TensorName).ToArray();
        Assert.Contains("blocks.4.ffn.value.weight", named);
        Assert.Contains("blocks.7.att.k_a", named);
        Assert.Contains("blocks.2.att.x_r", named);
        Assert.Contains("blocks.2.att.x_g", named);
        Assert.Contains("blk.2.time_mix_lerp_fused.weight", named);
        Assert.Contains("blk.0.mystery.weight", named);
        TensorProblem lora = Assert.Single(e.Problems, p => p.TensorName == "blocks.1.att.w1");
        Assert.Equal(("(64, 32)", "(32, 64)"), (lora.Expected, lora.Actual));
    }

    [Fact]
    public void Cut_inside_every_section_is_a_format_error_naming_what_was_read()
    {
        // mh4 Q4_K_M: its metadata (512 tokens, a chat template) is long enough for cuts inside it to pass the counts'
        // checks (90 tensor infos, 24 keys still fit in what is left) and fail where they cut.
        const string file = Models.Mh4Q4KmGguf;
        byte[] bytes = FixtureBytes.Get(file);
        GgufModel model = TestGguf.Parse(bytes, out GgufLayout layout);
        int tokens = model.Metadata.FindIndex(kv => kv.Key == "tokenizer.ggml.tokens");
        int template = model.Metadata.FindIndex(kv => kv.Key == "tokenizer.chat_template");
        (long Offset, string Expected)[] cuts =
        [
            (8, "the file ends inside the tensor count"),
            (20, "the file ends inside the metadata key count"),
            (24, "the header claims 24 metadata keys but only 0 bytes are left"),
            (2000, "the header claims 90 tensors but only 1976 bytes are left"),
            (layout.KeyValueStarts[tokens] + 3000, "the array of metadata key 'tokenizer.ggml.tokens' claims 512 elements of STRING"),
            (layout.KeyValueStarts[tokens] + 5000, "of the array of metadata key 'tokenizer.ggml.tokens'"),
            (layout.KeyValueStarts[tokens + 1] + 10, $"metadata key #{tokens + 1} claims"),
            (layout.KeyValueStarts[template] + 60, "the value of metadata key 'tokenizer.chat_template' claims 332 bytes but only"),
            (layout.TensorInfoStarts[0] + 3, "the name of tensor #0"),
            (layout.TensorInfoStarts[0] + 30, "the dimensions of tensor 'output.weight'"),
            (layout.TensorInfoStarts[^1] + 10, "the name of tensor #89"),
            (layout.InfosEnd + 1, layout.InfosEnd % TestGguf.Alignment != 0 ? "the padding before the data section" : "past the end of the file"),
            (layout.DataStart, "tensor 'output.weight' (Q6_K [256, 512]) needs 107520 bytes at data offset 0, past the end of the file"),
            (layout.TensorDataStarts[50] + 7, "past the end of the file"),
            (bytes.Length - 1, "past the end of the file"),
        ];
        foreach ((long offset, string expected) in cuts)
        {
            using TempFile cut = TempFile.Truncated(file, offset);
            RwkvFormatException e = MalformedFile.AssertFormatError(cut.Path);
            Assert.True(e.Detail.Contains(expected, StringComparison.Ordinal), $"cut at {offset}: '{e.Detail}' does not say '{expected}'");
        }
    }

    [Fact]
    public void Invalid_utf8_in_a_key_is_refused()
    {
        GgufModel model = Fixture();
        model.Metadata.Insert(1, GgufKv.UInt32("test.marker", 0));
        byte[] file = TestGguf.Write(model);
        file[file.AsSpan().IndexOf("test.marker"u8)] = 0xFF;
        using var temp = new TempFile(file, ".gguf");
        Assert.Contains("metadata key #1 is not valid UTF-8", MalformedFile.AssertFormatError(temp.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_token_is_refused_when_the_vocabulary_is_built()
    {
        GgufModel model = TestGguf.Parse(FixtureBytes.Get(Models.Mh4Q4Gguf));
        int tokens = model.Metadata.FindIndex(kv => kv.Key == "tokenizer.ggml.tokens");
        byte[] value = (byte[])model.Metadata[tokens].Value.Clone();
        int first = 12 + 8 + "<s>".Length; // token 1 is "\x00": make it "\xZ0"
        value[first + 8 + 2] = (byte)'Z';
        model.Metadata[tokens] = model.Metadata[tokens] with { Value = value };
        using var file = new TempFile(TestGguf.Write(model), ".gguf");
        using Checkpoint checkpoint = Checkpoint.Open(file.Path);
        RwkvFormatException e = Assert.Throws<RwkvFormatException>(() => checkpoint.Gguf!.CreateWorldTokenizer());
        Assert.Contains("token 1 has an escape \\x without two hex digits", e.Detail, StringComparison.Ordinal);
        Assert.Contains(file.Path, e.Message, StringComparison.Ordinal);
    }
}
