using System.CommandLine;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Cli.Commands;

namespace Rwkv7.Cli;

/// <summary>
/// The <c>rwkv7</c> command-line program (its commands: <see cref="CommandTree"/>). Exit codes: 0 success, 1 failure
/// (one line on standard error, the stack trace only with --verbose), 2 a usage mistake, 130 stopped by Ctrl-C.
/// </summary>
internal static class Program
{
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;
    public const int ExitInterrupted = 130;

    public static Task<int> Main(string[] args) => RunAsync(args, CliConsole.FromSystemConsole());

    /// <summary>Runs one command line against <paramref name="console"/> and returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, CliConsole console)
    {
        bool verbose = args.Contains("--verbose");
        ParseResult? parse = null;
        try
        {
            Command root = CommandTree.Create(console);
            if (args.Length == 0)
            {
                // No command: the help, but as a mistake.
                root.Parse(["--help"], CommandTree.Parsing).Invoke(CommandTree.Invocation(console));
                return ExitUsage;
            }

            // "rwkv7 help [COMMAND]" is "rwkv7 [COMMAND] --help".
            parse = root.Parse(args is ["help", .. var rest] ? [.. rest, "--help"] : args, CommandTree.Parsing);
            if (parse.Action is not { ClearsParseErrors: true } && UsageErrors.Describe(parse, args) is { } mistake)
            {
                throw new UsageException(mistake);
            }

            Command command = parse.CommandResult.Command;
            if (parse.Action == command.Action && command.Name != TuneCommand.Name)
            {
                TuningFiles.ApplySaved(console);
            }

            return await parse.InvokeAsync(CommandTree.Invocation(console)).ConfigureAwait(false);
        }
        catch (UsageException e)
        {
            console.Error.WriteLine($"rwkv7: {e.Message} (see '{(parse is null ? "rwkv7 --help" : UsageErrors.HelpCommand(parse))}')");
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
}
