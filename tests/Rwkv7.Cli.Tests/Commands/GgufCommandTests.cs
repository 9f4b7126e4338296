using Rwkv7.Cli.Tests.Infrastructure;

namespace Rwkv7.Cli.Tests.Commands;

/// <summary>GGUF files from the command line: info, generation with the file's own vocabulary, and convert both ways.</summary>
public sealed class GgufCommandTests
{
    private static string Gguf(string relative) => Paths.Fixture("gguf/" + relative);

    private static readonly string TinyF32 = Gguf("tiny-7v0-834K/tiny-rwkv-7v0-834K-F32.gguf");
    private static readonly string TinyQ4 = Gguf("tiny-7v0-834K/tiny-rwkv-7v0-834K-Q4_0.gguf");
    private static readonly string Mh4Bf16 = Gguf("mh4/rwkv7-mh4-random-BF16.gguf");
    private static readonly string Mh4Q8 = Gguf("mh4/rwkv7-mh4-random-Q8_0.gguf");
    private static readonly string Mh4Q4Km = Gguf("mh4/rwkv7-mh4-random-Q4_K_M.gguf");

    private static readonly string[] Greedy = ["--temperature", "0", "--presence", "0", "--frequency", "0"];

    [Fact]
    public void Info_shows_the_metadata_the_types_per_group_the_tokenizer_and_the_chat_template()
    {
        CliResult r = TestCli.Run(["info", "--model", Mh4Q4Km]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("format      GGUF (llama.cpp, ollama)", r.Out, StringComparison.Ordinal);
        Assert.Contains("gguf        version 3, architecture rwkv7, name \"rwkv7-mh4-random\", file type MOSTLY_Q4_K_M (15", r.Out, StringComparison.Ordinal);
        Assert.Contains("  head        Q6_K ×1 → q8 (decoded exactly, then quantized again)", r.Out, StringComparison.Ordinal);
        Assert.Contains("  time mix    Q4_K ×12 → q4 (decoded exactly, then quantized again)", r.Out, StringComparison.Ordinal);
        Assert.Contains("  lora        F32 ×6, BF16 ×16 → bf16", r.Out, StringComparison.Ordinal);
        Assert.Contains("context     1,048,576 claimed by the file; RWKV has no context limit", r.Out, StringComparison.Ordinal);
        Assert.Contains("tokenizer   World, 512 tokens from the file", r.Out, StringComparison.Ordinal);
        Assert.Contains("chat        the file's template is the RWKV World turn format", r.Out, StringComparison.Ordinal);

        CliResult tiny = TestCli.Run(["info", "--model", TinyQ4]);
        Assert.True(tiny.ExitCode == 0, tiny.ToString());
        Assert.Contains("  time mix    Q4_0 ×48 → q4 (the file's blocks, kept as they are)", tiny.Out, StringComparison.Ordinal);
        Assert.Contains("  head        Q8_0 ×1 → q8 (the file's blocks, kept as they are)", tiny.Out, StringComparison.Ordinal);
        Assert.Contains("tokenizer   bytes (vocabulary 256", tiny.Out, StringComparison.Ordinal);
        Assert.Contains("chat        no template in the file: chat uses the RWKV G1 format", tiny.Out, StringComparison.Ordinal);

        CliResult asked = TestCli.Run(["info", "--model", TinyQ4, "--precision", "fp32"]);
        Assert.Contains("  time mix    Q4_0 ×48 → fp32", asked.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void A_world_gguf_generates_with_its_own_vocabulary_and_a_given_one_wins()
    {
        CliResult r = TestCli.Run(["generate", "--model", Mh4Q8, "Hello", .. Greedy, "--max-tokens", "8"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.NotEmpty(r.Out);

        // The full World vocabulary given explicitly is used, and it does not fit this 512-token test model.
        CliResult given = TestCli.Run(["generate", "--model", Mh4Q8, "--vocab", Paths.WorldVocabulary, "Hello", "--max-tokens", "2"]);
        Assert.Equal(1, given.ExitCode);
        Assert.Contains("has ids up to 65529, but the model has only 512 logits", given.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_byte_level_gguf_generates_as_the_same_checkpoint_does()
    {
        const string prompt = "Once upon a time, there was a";
        CliResult r = TestCli.Run(["generate", "--model", TinyF32, prompt, .. Greedy, "--max-tokens", "32"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(TinyModel.GreedyContinuation(prompt, 32), r.Out);
    }

    [Fact]
    public void Convert_writes_gguf_byte_stable_and_as_llama_cpps_converter_does()
    {
        using var temp = new TempFolder();
        string a = temp.File("a.gguf"), b = temp.File("b.gguf"), again = temp.File("again.gguf");
        string pth = Paths.Fixture("tiny-7v0-834K/tiny-rwkv-7v0-834K-bf16.pth");
        CliResult first = TestCli.Run(["convert", "--model", pth, "--out", a]);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.StartsWith($"wrote {a} (L12 D64", first.Out, StringComparison.Ordinal);
        Assert.Equal(0, TestCli.Run(["convert", "--model", pth, "--out", b]).ExitCode);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));

        // A converter-written World file read and written again is unchanged (its vocabulary comes from the file).
        Assert.Equal(0, TestCli.Run(["convert", "--model", Mh4Bf16, "--out", again]).ExitCode);
        Assert.Equal(File.ReadAllBytes(Mh4Bf16), File.ReadAllBytes(again));
    }

    [Fact]
    public void Convert_to_q8_gguf_and_back_to_safetensors()
    {
        using var temp = new TempFolder();
        string q8 = temp.File("tiny-q8.gguf"), back = temp.File("tiny.safetensors");
        CliResult r = TestCli.Run(["convert", "--model", TinyF32, "--out", q8, "--precision", "q8"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("q8 matrices", r.Out, StringComparison.Ordinal);
        Assert.Contains("  time mix    Q8_0 ×48 → q8 (the file's blocks, kept as they are)", TestCli.Run(["info", "--model", q8]).Out, StringComparison.Ordinal);

        CliResult safetensors = TestCli.Run(["convert", "--model", q8, "--out", back]);
        Assert.True(safetensors.ExitCode == 0, safetensors.ToString());
        Assert.Equal(0, TestCli.Run(["info", "--model", back]).ExitCode);
    }

    [Fact]
    public void Convert_refuses_what_it_cannot_write()
    {
        using var temp = new TempFolder();
        CliResult q8 = TestCli.Run(["convert", "--model", TinyF32, "--out", temp.File("x.safetensors"), "--precision", "q8"]);
        Assert.Equal(2, q8.ExitCode);
        Assert.Contains("give --out a .gguf name", q8.Error, StringComparison.Ordinal);

        CliResult noVocabulary = TestCli.Run(["convert", "--model", Paths.Fixture("mh4/rwkv7-mh4-random-bf16.pth"), "--out", temp.File("mh4.gguf")]);
        Assert.Equal(2, noVocabulary.ExitCode);
        Assert.Contains("pass --vocab", noVocabulary.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(temp.File("mh4.gguf")));
    }
}
