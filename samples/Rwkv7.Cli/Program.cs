using Rwkv7.Cli.CommandLine;
using Rwkv7.Cli.Commands;

namespace Rwkv7.Cli;

/// <summary>
/// The <c>rwkv7</c> command-line program. Exit codes: 0 success, 1 failure (one line on standard error, the stack
/// trace only with --verbose), 2 a usage mistake, 130 stopped by Ctrl-C.
/// </summary>
internal static class Program
{
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;
    public const int ExitInterrupted = 130;

    /// <summary>Switches that take no value, whichever command they belong to.</summary>
    private static readonly HashSet<string> Flags = new(StringComparer.Ordinal) { "all", "verbose", "help", "json", "profile", "stats", "pieces", "bytes", "save", "quiet" };

    public static Task<int> Main(string[] args) => RunAsync(args, CliConsole.FromSystemConsole());

    /// <summary>Runs one command line against <paramref name="console"/> and returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, CliConsole console)
    {
        bool verbose = args.Contains("--verbose");
        try
        {
            if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
            {
                PrintUsage(console.Out);
                return args.Length == 0 ? ExitUsage : 0;
            }

            CommandArguments parsed = CommandArguments.Parse(args[0], args[1..], Flags, console.GetEnvironmentVariable);
            parsed.Flag("verbose");
            if (args[0] != "tune")
            {
                TuningFiles.ApplySaved(console);
            }

            return args[0] switch
            {
                "generate" => await GenerateCommand.RunAsync(parsed, console).ConfigureAwait(false),
                "chat" => await ChatCommand.RunAsync(parsed, console).ConfigureAwait(false),
                "perplexity" => PerplexityCommand.Run(parsed, console),
                "tokenize" => TokenizeCommand.Run(parsed, console),
                "info" => InfoCommand.Run(parsed, console),
                "logits" => LogitsCommand.Run(parsed, console),
                "bench" => BenchCommand.Run(parsed, console.Out),
                "convert" => ConvertCommand.Run(parsed, console),
                "tune" => TuneCommand.Run(parsed, console),
                "serve" => await ServeCommand.RunAsync(parsed, console).ConfigureAwait(false),
                "bench-serve" => await BenchServeCommand.RunAsync(parsed, console).ConfigureAwait(false),
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException e)
        {
            console.Error.WriteLine($"rwkv7: {e.Message} (see 'rwkv7 --help')");
            return ExitUsage;
        }
        catch (OperationCanceledException)
        {
            console.Error.WriteLine("rwkv7: interrupted");
            return ExitInterrupted;
        }
        catch (Exception e)
        {
            // Anything else is still one line; an exception the user cannot act on is labelled as a bug.
            string kind = ErrorText.IsExpected(e) ? "error" : $"internal error ({e.GetType().Name})";
            console.Error.WriteLine($"rwkv7: {kind}: {ErrorText.OneLine(e)}");
            if (verbose)
            {
                console.Error.WriteLine(e);
            }

            return ExitFailure;
        }
    }

    private static void PrintUsage(TextWriter output)
    {
        output.WriteLine("rwkv7 - run RWKV-7 language models (Rwkv7.Gen)");
        output.WriteLine();
        output.WriteLine("usage:");
        foreach (string usage in new[]
        {
            GenerateCommand.Usage, ChatCommand.Usage, PerplexityCommand.Usage, TokenizeCommand.Usage,
            InfoCommand.Usage, LogitsCommand.Usage, BenchCommand.Usage, TuneCommand.Usage, ConvertCommand.Usage, ServeCommand.Usage, BenchServeCommand.Usage,
        })
        {
            output.WriteLine($"  rwkv7 {usage}");
        }

        output.WriteLine();
        output.WriteLine($"--model defaults to ${ModelOptions.ModelVariable}; --vocab to ${ModelOptions.VocabularyVariable}, then to");
        output.WriteLine($"{Gen.Text.WorldTokenizer.VocabularyFileName} in the model's folder (models with 256 tokens read bytes and need none).");
        output.WriteLine("--stop may be repeated and understands \\n \\r \\t \\0 \\\\. Chat commands: /help inside chat.");
        output.WriteLine("Failures print one line; add --verbose to see stack traces.");
    }
}
