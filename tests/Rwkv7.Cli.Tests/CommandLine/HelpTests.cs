using System.Reflection;
using Rwkv7.Cli.Tests.Infrastructure;

namespace Rwkv7.Cli.Tests.CommandLine;

/// <summary>The help of the program and of every command, --version, and suggestions for mistyped names.</summary>
public sealed class HelpTests
{
    private const string ModelOptions = "--model --engine --precision --threads";

    /// <summary>Every command with the options it must keep accepting (besides --verbose and --help).</summary>
    public static TheoryData<string, string> Commands { get; } = new()
    {
        { "generate", $"--prompt {ModelOptions} --vocab --max-tokens --stop --temperature --top-p --top-k --min-p --presence --frequency --decay --ban --seed --stats" },
        { "chat", $"{ModelOptions} --vocab --system --think --max-tokens --temperature --top-p --top-k --min-p --presence --frequency --decay --ban --seed" },
        { "perplexity", $"{ModelOptions} --vocab --chunk --limit" },
        { "tokenize", "--vocab --bytes --pieces" },
        { "info", $"{ModelOptions} --vocab" },
        { "logits", $"--tokens --all --out {ModelOptions}" },
        { "bench", "--model --shape --precision --threads --engine --tokens --prefill --batch --runs --clock --json --profile --context --svg --ab --ab-switch" },
        { "tune", "--model --shape --precision --save --out" },
        { "convert", "--model --out --precision --vocab" },
        {
            "serve",
            $"--shape {ModelOptions} --vocab --host --port --api-key --model-name --max-batch --max-queue --max-prompt-tokens --max-tokens " +
            "--max-request-bytes --state-cache-mib --state-dir --think --batch-invariant --quiet"
        },
        { "bench-serve", $"--shape {ModelOptions} --vocab --clients --tokens --rounds --follow-up-tokens" },
    };

    [Theory]
    [MemberData(nameof(Commands))]
    public void Each_commands_help_lists_its_options_and_exits_0(string command, string options)
    {
        foreach (string help in new[] { "--help", "-h" })
        {
            // No model anywhere, and a tuning file that is not there: asking for help reads neither.
            CliResult r = TestCli.Run([command, help], stdin: (byte[]?)null, new Dictionary<string, string> { ["RWKV7_TUNING"] = "/no/such/tuning.txt" });
            Assert.True(r.ExitCode == 0, $"{command} {help}: {r}");
            Assert.Empty(r.Error);
            Assert.Contains($"Usage:\n  rwkv7 {command} ", r.Out, StringComparison.Ordinal);
            string[] lines = r.Out.Split('\n');
            foreach (string option in options.Split(' ').Concat(["--verbose", "--help"]))
            {
                Assert.True(
                    lines.Any(l => System.Text.RegularExpressions.Regex.IsMatch(l, $@"^  (\S+, )*{option}( <[^>]+>)?  ")),
                    $"{command} {help} does not list {option}:\n{r.Out}");
            }
        }
    }

    [Fact]
    public void The_help_of_a_command_is_also_rwkv7_help_command()
    {
        CliResult viaOption = TestCli.Run(["perplexity", "--help"]);
        CliResult viaWord = TestCli.Run(["help", "perplexity"]);
        Assert.Equal(0, viaWord.ExitCode);
        Assert.Equal(viaOption.Out, viaWord.Out);
    }

    [Fact]
    public void Help_wins_over_mistakes_on_the_same_line()
    {
        CliResult r = TestCli.Run(["generate", "--top-p", "7", "--bogus", "-h"]);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("--max-tokens <N>", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void The_program_help_lists_every_command_and_no_arguments_print_it_as_a_mistake()
    {
        CliResult help = TestCli.Run(["--help"]);
        Assert.Equal(0, help.ExitCode);
        foreach (string command in Commands.Select(row => (string)row[0]))
        {
            Assert.Contains(help.Out.Split('\n'), line => line.StartsWith($"  {command} ", StringComparison.Ordinal));
        }

        Assert.Contains("RWKV7_MODEL", help.Out, StringComparison.Ordinal);
        Assert.Contains("--version", help.Out, StringComparison.Ordinal);

        CliResult none = TestCli.Run([]);
        Assert.Equal(2, none.ExitCode);
        Assert.Equal(help.Out, none.Out);
    }

    [Fact]
    public void Chats_help_lists_the_commands_inside_a_chat()
    {
        CliResult r = TestCli.Run(["chat", "--help"]);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("  /save FILE", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Version_prints_the_programs_version()
    {
        string version = typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        CliResult r = TestCli.Run(["--version"]);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal($"rwkv7 {version}\n", r.Out);

        CliResult extra = TestCli.Run(["--version", "extra"]);
        Assert.Equal(2, extra.ExitCode);
    }

    [Theory]
    [InlineData("generate", "--max-token", "--max-tokens")]
    [InlineData("chat", "--sytem", "--system")]
    [InlineData("perplexity", "--chunks", "--chunk")]
    [InlineData("tokenize", "--piece", "--pieces")]
    [InlineData("logits", "--alll", "--all")]
    [InlineData("bench", "--shap", "--shape")]
    [InlineData("tune", "--sav", "--save")]
    [InlineData("convert", "--outt", "--out")]
    [InlineData("serve", "--prot", "--port")]
    [InlineData("bench-serve", "--client", "--clients")]
    public void A_mistyped_option_suggests_the_right_one_and_exits_2(string command, string typo, string meant)
    {
        CliResult r = TestCli.Run([command, typo, "1"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal($"rwkv7: {command} does not take {typo}; did you mean {meant}? (see 'rwkv7 {command} --help')", Assert.Single(r.ErrorLines));
    }
}
