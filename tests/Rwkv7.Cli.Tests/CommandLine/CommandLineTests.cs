using Rwkv7.Cli.Tests.Infrastructure;

namespace Rwkv7.Cli.Tests.CommandLine;

/// <summary>How the program reads a command line, seen from outside: values, positional arguments, mistakes.</summary>
public sealed class CommandLineTests
{
    /// <summary>Byte ids of <paramref name="text"/> as tokenize --bytes prints them.</summary>
    private static string ByteIds(string text) => string.Join(' ', System.Text.Encoding.UTF8.GetBytes(text)) + "\n";

    [Fact]
    public void Options_take_the_next_argument_or_an_inline_value()
    {
        CliResult separate = TestCli.Run(["tokenize", "--vocab", Paths.WorldVocabulary, "Hello, world!"]);
        CliResult inline = TestCli.Run(["tokenize", $"--vocab={Paths.WorldVocabulary}", "Hello, world!"]);
        Assert.True(separate.ExitCode == 0, separate.ToString());
        Assert.Equal("33155 45 40213 34\n", separate.Out);
        Assert.Equal(separate.Out, inline.Out);
    }

    [Fact]
    public void A_value_may_start_with_a_dash()
    {
        // Were "-0.5" or "-5" not taken as the values, they would be a second prompt: a usage error.
        CliResult r = TestCli.Run(["generate", "--model", Paths.TinyModel, "Once upon", "--presence", "-0.5", "--seed", "-5", "--max-tokens", "4"]);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Theory]
    [InlineData("@notes.txt")] // not read as a response file
    [InlineData("-hello")] // not -h followed by more switches
    [InlineData("[tag]")] // not a directive
    public void A_positional_argument_is_taken_as_it_is(string text)
    {
        CliResult r = TestCli.Run(["tokenize", "--bytes", text]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(ByteIds(text), r.Out);
    }

    [Fact]
    public void Everything_after_a_double_dash_is_positional()
    {
        CliResult r = TestCli.Run(["tokenize", "--bytes", "--", "--not-an-option"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(ByteIds("--not-an-option"), r.Out);
    }

    [Fact]
    public void An_option_that_takes_one_value_refuses_a_second()
    {
        CliResult r = TestCli.Run(["tokenize", "--vocab", Paths.WorldVocabulary, "--vocab", Paths.WorldVocabulary, "text"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("rwkv7: --vocab is given twice (see 'rwkv7 tokenize --help')", Assert.Single(r.ErrorLines));
    }

    [Theory]
    [InlineData(new[] { "generate", "--sed", "1", "hello" }, "generate does not take --sed; did you mean --seed?")]
    [InlineData(new[] { "info", "--modle", "m.pth" }, "info does not take --modle; did you mean --model?")]
    [InlineData(new[] { "bench", "--shape", "tiny", "--token", "2" }, "bench does not take --token; did you mean --tokens?")]
    [InlineData(new[] { "info", "--frobnicate" }, "info does not take --frobnicate (see")] // nothing near: no suggestion
    [InlineData(new[] { "--verbos" }, "unknown option --verbos; did you mean --verbose?")]
    [InlineData(new[] { "genrate", "hello" }, "unknown command 'genrate'; did you mean generate?")]
    public void Mistyped_names_are_usage_errors_that_suggest_the_nearest(string[] args, string message)
    {
        CliResult r = TestCli.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, Assert.Single(r.ErrorLines), StringComparison.Ordinal);
        Assert.Empty(r.Out);
    }

    [Fact]
    public void An_unknown_option_is_not_taken_for_the_prompt()
    {
        // The parser would make "--sed" the prompt; the program refuses it, with or without text on standard input.
        CliResult r = TestCli.Run(["generate", "--model", Paths.TinyModel, "--sed"], "piped prompt");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("generate does not take --sed; did you mean --seed?", Assert.Single(r.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_positional_values_are_usage_errors()
    {
        CliResult stray = TestCli.Run(["info", "--model", Paths.TinyModel, "stray"]);
        Assert.Equal(2, stray.ExitCode);
        Assert.Contains("info does not take 'stray'", Assert.Single(stray.ErrorLines), StringComparison.Ordinal);

        CliResult two = TestCli.Run(["tokenize", "--bytes", "hello", "world"]);
        Assert.Equal(2, two.ExitCode);
        Assert.Contains("tokenize takes one text, not 2 (quote it if it has spaces): 'world' is extra", Assert.Single(two.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public void A_switch_with_a_value_and_an_option_without_one_are_usage_errors()
    {
        CliResult flag = TestCli.Run(["tokenize", "--bytes=yes", "text"]);
        Assert.Equal(2, flag.ExitCode);
        Assert.Contains("--bytes takes no value", Assert.Single(flag.ErrorLines), StringComparison.Ordinal);

        // Without other arguments the value would silently have become the text to tokenize.
        CliResult alone = TestCli.Run(["tokenize", "--bytes=yes"], "piped");
        Assert.Equal(2, alone.ExitCode);
        Assert.Contains("--bytes takes no value", Assert.Single(alone.ErrorLines), StringComparison.Ordinal);

        CliResult missing = TestCli.Run(["tokenize", "--vocab"]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--vocab needs a value", Assert.Single(missing.ErrorLines), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--temperature", "-1", "--temperature must be a number >= 0, not '-1'")]
    [InlineData("--temperature", "NaN", "--temperature must be a number >= 0, not 'NaN'")]
    [InlineData("--temperature", "warm", "--temperature must be a number >= 0, not 'warm'")]
    [InlineData("--top-p", "1.5", "--top-p must be a number in (0, 1], not '1.5'")]
    [InlineData("--presence", "Infinity", "--presence must be a finite number, not 'Infinity'")]
    [InlineData("--max-tokens", "1.5", "--max-tokens must be an integer in [0, 2147483647], not '1.5'")]
    [InlineData("--threads", "0", "--threads must be an integer in [1, 1024], not '0'")]
    [InlineData("--ban", "1,-2", "--ban must be comma-separated non-negative integers; '-2' is not")]
    [InlineData("--seed", "x", "--seed must be a 64-bit integer, not 'x'")]
    [InlineData("--engine", "fast", "--engine must be auto, reference or generated, not 'fast'")]
    public void Bad_values_name_the_option_and_what_it_takes(string option, string value, string message)
    {
        // Found before anything is loaded: the model does not even exist.
        CliResult r = TestCli.Run(["generate", "--model", "/no/such/model.pth", "hello", option, value]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal($"rwkv7: {message} (see 'rwkv7 generate --help')", Assert.Single(r.ErrorLines));
    }

    [Fact]
    public void Environment_variables_stand_in_for_missing_options_only()
    {
        var missing = new Dictionary<string, string> { ["RWKV7_MODEL"] = "/no/such/model.pth" };
        CliResult given = TestCli.Run(["info", "--model", Paths.TinyModel], stdin: (byte[]?)null, missing);
        Assert.True(given.ExitCode == 0, given.ToString());

        CliResult fromEnvironment = TestCli.Run(["info"], stdin: (byte[]?)null, missing);
        Assert.Equal(1, fromEnvironment.ExitCode);
        Assert.Contains("/no/such/model.pth", Assert.Single(fromEnvironment.ErrorLines), StringComparison.Ordinal);

        CliResult empty = TestCli.Run(["info"], stdin: (byte[]?)null, new Dictionary<string, string> { ["RWKV7_MODEL"] = "" });
        Assert.Equal(2, empty.ExitCode);
        Assert.Equal("rwkv7: info needs --model (or the RWKV7_MODEL environment variable) (see 'rwkv7 info --help')", Assert.Single(empty.ErrorLines));
    }

    [Fact]
    public void Verbose_is_accepted_by_every_command()
    {
        CliResult r = TestCli.Run(["tokenize", "--bytes", "a", "--verbose"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("97\n", r.Out);
    }
}
