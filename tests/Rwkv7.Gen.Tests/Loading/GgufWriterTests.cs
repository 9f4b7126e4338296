using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Loading.Gguf;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Loading.Support;
using Rwkv7.Gen.Text;
using Rwkv7.Gen.Weights;
using Xunit.Abstractions;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// GGUF written by <see cref="GgufWriter"/>: byte for byte what llama.cpp's converter writes for the same model, the
/// same bytes on every run, and the same logits as the checkpoint it came from.
/// </summary>
public sealed class GgufWriterTests(ITestOutputHelper output)
{
    public static TheoryData<string> ConverterFiles() => [Models.TinyF32Gguf, Models.TinyF16Gguf, Models.TinyBf16Gguf, Models.Mh4Bf16Gguf];

    /// <summary>
    /// The fixtures' unquantized files were written by llama.cpp's own gguf-py with its converter's rules, and llama.cpp
    /// loads them: read and written again unchanged, each comes out identical, metadata, names, layouts, types,
    /// token list, alignment and all.
    /// </summary>
    [Theory]
    [MemberData(nameof(ConverterFiles))]
    public void Rewriting_a_converter_file_reproduces_it_byte_for_byte(string file)
    {
        using Checkpoint source = Checkpoint.Open(Fixtures.Path(file));
        using var written = new TempFile([], ".gguf");
        GgufWriter.Write(source, written.Path);
        Assert.True(FixtureBytes.Get(file).AsSpan().SequenceEqual(File.ReadAllBytes(written.Path)), $"{file} was not reproduced");
    }

    [Fact]
    public void A_checkpoint_written_as_gguf_is_the_converters_file_and_the_same_bytes_every_time()
    {
        // The fp32 .pth with the converter's name for the model gives the converter's F32 file.
        using Checkpoint pth = Checkpoint.Open(Fixtures.Path(Models.TinyFp32Pth));
        using var first = new TempFile([], ".gguf");
        using var second = new TempFile([], ".gguf");
        GgufWriter.Write(pth, first.Path, new GgufWriteOptions { Name = "tiny-rwkv-7v0-834K" });
        GgufWriter.Write(pth, second.Path, new GgufWriteOptions { Name = "tiny-rwkv-7v0-834K" });
        byte[] bytes = File.ReadAllBytes(first.Path);
        Assert.Equal(bytes, File.ReadAllBytes(second.Path));
        Assert.True(FixtureBytes.Get(Models.TinyF32Gguf).AsSpan().SequenceEqual(bytes));
    }

    public static TheoryData<string, string> RoundTrips() => new()
    {
        { Models.TinyBf16Pth, "keep" },
        { Models.TinyFp32Pth, "keep" },
        { Models.TinyBf16Pth, "bf16" },
        { Models.Mh4Pth, "keep" },
    };

    /// <summary>.pth → GGUF → logits equal to the .pth's, bit for bit: the file holds the same values and packs the same.</summary>
    [Theory]
    [MemberData(nameof(RoundTrips))]
    public void A_pth_converted_to_gguf_gives_the_pths_logits(string file, string precision)
    {
        using Checkpoint pth = Checkpoint.Open(Fixtures.Path(file));
        using var gguf = new TempFile([], ".gguf");
        GgufWriter.Write(pth, gguf.Path, new GgufWriteOptions
        {
            MatrixType = precision == "bf16" ? TensorDType.BF16 : null,
            Vocabulary = Models.IsMh4(file) ? Mh4Vocabulary() : null,
        });
        int[] tokens = Goldens.For(file).Tokens;
        Assert.Equal(Logits(Fixtures.Path(file), tokens), Logits(gguf.Path, tokens));
    }

    /// <summary>
    /// Q8_0 and Q4_0 blocks read from a file are written back unchanged (this engine's packed rows hold them exactly):
    /// every block-quantized tensor of the rewritten file has the source file's bytes.
    /// </summary>
    [Theory]
    [InlineData(Models.TinyQ8Gguf)]
    [InlineData(Models.TinyQ4Gguf)]
    [InlineData(Models.Mh4Q8Gguf)]
    public void Q8_0_and_q4_0_blocks_are_written_back_unchanged(string file)
    {
        using Checkpoint source = Checkpoint.Open(Fixtures.Path(file));
        using var written = new TempFile([], ".gguf");
        GgufWriter.Write(source, written.Path);
        GgufModel original = TestGguf.Parse(FixtureBytes.Get(file));
        GgufModel rewritten = TestGguf.Parse(File.ReadAllBytes(written.Path));
        int blocks = 0;
        foreach (GgufTensor t in original.Tensors.Where(t => t.Type is 2 or 8))
        {
            GgufTensor copy = rewritten.Tensors.Single(w => w.Name == t.Name);
            Assert.Equal(t.Type, copy.Type);
            Assert.Equal(t.Dims, copy.Dims);
            Assert.True(t.Data.AsSpan().SequenceEqual(copy.Data), $"{file}: {t.Name} changed");
            blocks++;
        }

        Assert.True(blocks >= 20);
    }

    /// <summary>
    /// Asked for q8 or q4, the product matrices (embedding included, as llama-quantize does) are written as Q8_0 or Q4_0
    /// (the head Q8_0) and the LoRA factors keep their type. Read back, the blocks are kept and hold the file's values:
    /// prefill on them equals the fp32-decoded file within the fp32 tolerance for Q8_0 (its prompt products take fp32
    /// inputs) and within 3e-2 of the row std for Q4_0, whose short prompts' products round their inputs to 8 bits
    /// (measured 1.6e-3; a wrong block moves logits by whole standard deviations). Against the goldens (measured: Q8_0
    /// 1.9e-2 of the row std and 24/24 top-1, as llama-quantize's Q8_0 file; Q4_0 0.12 and 23/24, llama-quantize's 0.17),
    /// bounded with a margin.
    /// </summary>
    [Theory]
    [InlineData(TensorDType.Q8, 0.05, 24)]
    [InlineData(TensorDType.Q4, 0.3, 22)]
    public void Quantized_gguf_reads_back_as_the_blocks_written(TensorDType type, double maxOverStd, int minTopOne)
    {
        using Checkpoint pth = Checkpoint.Open(Fixtures.Path(Models.TinyBf16Pth));
        using var gguf = new TempFile([], ".gguf");
        GgufWriter.Write(pth, gguf.Path, new GgufWriteOptions { MatrixType = type });
        using Checkpoint written = Checkpoint.Open(gguf.Path);
        Assert.Equal(type == TensorDType.Q8 ? 7 : 2, written.Gguf!.FileType);
        Assert.Equal(GgmlType.Q8_0, written.Gguf.Tensors.Single(t => t.GgufName == "output.weight").Type);
        Assert.Equal(GgmlType.BF16, written.Gguf.Tensors.Single(t => t.GgufName == "blk.2.time_mix_g1.weight").Type);

        using RwkvWeights kept = RwkvWeights.FromCheckpoint(written);
        Assert.Equal((type, type), (kept.Layers[5].FfnKey.Type, kept.Embedding.Type));
        using RwkvModel blocks = RwkvModel.Create(kept);
        using RwkvModel decoded = RwkvModel.Load(gguf.Path, new RwkvModelOptions { Weights = new WeightLoadOptions { MatrixType = TensorDType.F32 } });
        int[] tokens = Goldens.Tiny.Tokens;
        float[] logits = Logits(blocks, tokens);
        Tolerance.AssertLogitRows(
            Logits(decoded, tokens), logits, 256, $"{type} GGUF kept vs decoded", type == TensorDType.Q4 ? 3e-2 : Tolerance.LogitsRelativeToRowStd);

        double worst = 0;
        int agree = 0;
        for (int row = 0; row < tokens.Length; row++)
        {
            ReadOnlySpan<float> e = Goldens.Tiny.Logits.AsSpan(row * 256, 256), a = logits.AsSpan(row * 256, 256);
            worst = Math.Max(worst, Tolerance.MaxAbsDiff(e, a, out _) / Tolerance.StdDev(e));
            agree += ArgMax(e) == ArgMax(a) ? 1 : 0;
        }

        output.WriteLine($"{type} GGUF vs goldens: max |Δ| / row std {worst:E3}, top-1 {agree}/{tokens.Length}");
        Assert.True(worst <= maxOverStd && agree >= minTopOne, $"{type}: max |Δ| / row std {worst:E3}, top-1 {agree}/{tokens.Length}");
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            best = values[i] > values[best] ? i : best;
        }

        return best;
    }

    [Fact]
    public void A_world_model_without_a_vocabulary_is_refused()
    {
        using Checkpoint pth = Checkpoint.Open(Fixtures.Path(Models.Mh4Pth));
        using var written = new TempFile([], ".gguf");
        RwkvException e = Assert.Throws<RwkvException>(() => GgufWriter.Write(pth, written.Path));
        Assert.Contains("needs its World vocabulary", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, new FileInfo(written.Path).Length);
    }

    [Theory]
    [InlineData(829_888L + 4_160, "834K")]
    [InlineData(2_882_816L, "2.9M")]
    [InlineData(191_000_000L, "191M")]
    [InlineData(2_900_000_000L, "2.9B")]
    [InlineData(13_300_000_000L, "13B")]
    public void Size_labels_follow_gguf_py(long parameters, string label)
    {
        Assert.Equal(label, GgufWriter.SizeLabel(parameters));
    }

    [Theory]
    [InlineData(new byte[] { 0x41, 0x27, 0x42 }, "A'B")] // ' without ": Python switches to double quotes
    [InlineData(new byte[] { 0x27, 0x22 }, "\\'\"")] // both: single quotes, ' escaped
    [InlineData(new byte[] { 0x5C, 0x09, 0x0A, 0x0D, 0x00, 0x7F, 0xE4 }, "\\\\\\t\\n\\r\\x00\\x7f\\xe4")]
    public void Tokens_are_escaped_as_python_writes_bytes(byte[] token, string expected)
    {
        Assert.Equal(expected, GgufWriter.Escape(token));
    }

    /// <summary>mh4's 512 tokens: its GGUF's list, the World vocabulary cut to 512 ids.</summary>
    private static WorldTokenizer Mh4Vocabulary()
    {
        using Checkpoint gguf = Checkpoint.Open(Fixtures.Path(Models.Mh4Bf16Gguf));
        return gguf.Gguf!.CreateWorldTokenizer();
    }

    private static float[] Logits(string path, int[] tokens)
    {
        using RwkvModel model = RwkvModel.Load(path);
        return Logits(model, tokens);
    }

    private static float[] Logits(RwkvModel model, int[] tokens)
    {
        float[] logits = new float[tokens.Length * model.Shape.Vocab];
        model.ForwardAll(tokens, model.CreateState(), logits);
        return logits;
    }
}
