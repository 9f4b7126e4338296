using System.Text;
using Rwkv7.Cli.Tests.Infrastructure;

namespace Rwkv7.Cli.Tests.Commands;

public sealed class GenerateCommandTests
{
    private const string Prompt = "Once upon a time, there was a";

    /// <summary>Plain argmax decoding: temperature 0 and no repetition penalties.</summary>
    private static readonly string[] Greedy = ["--temperature", "0", "--presence", "0", "--frequency", "0"];

    private static CliResult Generate(params string[] extra) =>
        TestCli.Run(["generate", "--model", Paths.TinyModel, .. extra]);

    [Fact]
    public void Greedy_output_is_the_argmax_continuation_of_the_prompt()
    {
        CliResult r = Generate([Prompt, .. Greedy, "--max-tokens", "48"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(TinyModel.GreedyContinuation(Prompt, 48), r.Out);
    }

    [Fact]
    public void The_same_seed_gives_the_same_text_and_another_seed_other_text()
    {
        CliResult a = Generate(Prompt, "--seed", "7", "--max-tokens", "64");
        CliResult b = Generate(Prompt, "--seed", "7", "--max-tokens", "64");
        CliResult c = Generate(Prompt, "--seed", "8", "--max-tokens", "64");
        Assert.Equal(0, a.ExitCode);
        Assert.NotEmpty(a.Out);
        Assert.Equal(a.Out, b.Out);
        Assert.NotEqual(a.Out, c.Out);
    }

    [Fact]
    public void A_piped_prompt_is_read_byte_for_byte_with_nothing_added()
    {
        // 0xFF is not UTF-8: read as text it would become U+FFFD (three bytes); read exactly it is byte token 255.
        byte[] prompt = [.. Encoding.UTF8.GetBytes("Once upon"), 0xFF, (byte)' '];
        CliResult piped = TestCli.Run(["generate", "--model", Paths.TinyModel, .. Greedy, "--max-tokens", "24"], prompt);
        Assert.True(piped.ExitCode == 0, piped.ToString());
        Assert.Equal(Encoding.UTF8.GetString(TinyModel.GreedyContinuation(prompt, 24)), piped.Out);

        // And no newline is added at the end: the same text as an argument gives the same continuation.
        CliResult argument = Generate(["Once upon a time", .. Greedy, "--max-tokens", "24"]);
        CliResult pipedText = TestCli.Run(["generate", "--model", Paths.TinyModel, .. Greedy, "--max-tokens", "24"], "Once upon a time");
        Assert.Equal(argument.Out, pipedText.Out);
        Assert.NotEqual(TinyModel.GreedyContinuation("Once upon a time\n", 24), pipedText.Out);
    }

    [Fact]
    public void Prompt_option_and_argument_are_the_same_and_cannot_both_be_given()
    {
        CliResult option = Generate(["--prompt", Prompt, .. Greedy, "--max-tokens", "16"]);
        Assert.Equal(TinyModel.GreedyContinuation(Prompt, 16), option.Out);

        CliResult both = Generate(Prompt, "--prompt", Prompt);
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("not both", both.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_terminal_with_no_prompt_is_a_usage_error()
    {
        CliResult r = Generate();
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("generate needs a prompt", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_stops_right_before_the_first_stop_text()
    {
        string full = TinyModel.GreedyContinuation(Prompt, 60);
        string stop = full.Substring(12, 3);
        int cut = full.IndexOf(stop, StringComparison.Ordinal);

        CliResult r = Generate([Prompt, .. Greedy, "--max-tokens", "60", "--stop", "\\nnever\\n", "--stop", stop]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(full[..cut], r.Out);
    }

    [Fact]
    public void Max_tokens_and_stats_report_what_happened()
    {
        CliResult r = Generate([Prompt, .. Greedy, "--max-tokens", "5", "--stats"]);
        Assert.Equal(TinyModel.GreedyContinuation(Prompt, 5), r.Out);
        string stats = Assert.Single(r.ErrorLines);
        Assert.Contains($"prompt {Prompt.Length} tokens", stats, StringComparison.Ordinal);
        Assert.Contains("generated 5 tokens", stats, StringComparison.Ordinal);
        Assert.Contains("stopped at --max-tokens", stats, StringComparison.Ordinal);
        Assert.Contains("generated Rwkv7.Cli.Models.TinyModel", stats, StringComparison.Ordinal);
    }

    [Fact]
    public void Banned_tokens_are_never_generated()
    {
        string free = Generate([Prompt, .. Greedy, "--max-tokens", "40"]).Out;
        Assert.Contains(' ', free);

        CliResult banned = Generate([Prompt, .. Greedy, "--max-tokens", "40", "--ban", "32,10"]);
        Assert.True(banned.ExitCode == 0, banned.ToString());
        Assert.Equal(40, Encoding.UTF8.GetByteCount(banned.Out));
        Assert.DoesNotContain(' ', banned.Out);
        Assert.DoesNotContain('\n', banned.Out);
    }

    [Theory]
    [InlineData("--ban", "256", "--ban 256 is outside the model's vocabulary [0, 256)")]
    [InlineData("--top-p", "0", "--top-p must be a number in (0, 1]")]
    [InlineData("--min-p", "2", "--min-p must be a number in [0, 1]")]
    [InlineData("--decay", "-0.1", "--decay must be a number in [0, 1]")]
    [InlineData("--top-k", "-1", "--top-k must be an integer")]
    [InlineData("--stop", "\\x", "unknown escape")]
    [InlineData("--sed", "1", "generate does not take --sed")]
    public void Bad_options_are_usage_errors_that_name_the_option(string option, string value, string message)
    {
        CliResult r = Generate(Prompt, option, value);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.ErrorLines[0], StringComparison.Ordinal);
        Assert.Empty(r.Out);
    }

    [Fact]
    public void Ctrl_C_stops_the_text_and_exits_with_130()
    {
        CliResult r = TestCli.Run(
            ["generate", "--model", Paths.TinyModel, Prompt, .. Greedy, "--max-tokens", "200"], stdin: (byte[]?)null, interruptAfterWrites: 3);
        Assert.Equal(130, r.ExitCode);
        Assert.Contains("interrupted", r.Error, StringComparison.Ordinal);
        string full = TinyModel.GreedyContinuation(Prompt, 200);
        Assert.StartsWith(r.Out, full, StringComparison.Ordinal);
        Assert.InRange(r.Out.Length, 3, 10); // stops within a token or two of the interrupt, far from 200
    }
}
