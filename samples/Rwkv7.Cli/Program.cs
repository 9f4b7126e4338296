using Rwkv7.Cli.CommandLine;
using Rwkv7.Cli.Commands;
using Rwkv7.Gen;

namespace Rwkv7.Cli;

/// <summary>The <c>rwkv7</c> command-line program.</summary>
internal static class Program
{
    private const int ExitFailure = 1;
    private const int ExitUsage = 2;

    private static readonly HashSet<string> Flags = new(StringComparer.Ordinal) { "all", "verbose", "help", "json" };

    public static int Main(string[] args)
    {
        bool verbose = args.Contains("--verbose");
        try
        {
            if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
            {
                PrintUsage(Console.Out);
                return args.Length == 0 ? ExitUsage : 0;
            }

            CommandArguments parsed = CommandArguments.Parse(args[0], args.Skip(1).ToArray(), Flags);
            parsed.Flag("verbose");
            return args[0] switch
            {
                "info" => InfoCommand.Run(parsed, Console.Out),
                "logits" => LogitsCommand.Run(parsed, Console.Out),
                "bench" => BenchCommand.Run(parsed, Console.Out),
                "convert" => ConvertCommand.Run(parsed, Console.Out),
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"rwkv7: {e.Message}");
            Console.Error.WriteLine("Run 'rwkv7 --help' for usage.");
            return ExitUsage;
        }
        catch (Exception e) when (e is RwkvException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"rwkv7: error: {e.Message}");
            if (verbose)
            {
                Console.Error.WriteLine(e);
            }

            return ExitFailure;
        }
    }

    private static void PrintUsage(TextWriter output)
    {
        output.WriteLine("rwkv7 - run RWKV-7 language models (Rwkv7.Gen)");
        output.WriteLine();
        output.WriteLine("usage:");
        output.WriteLine($"  rwkv7 {InfoCommand.Usage}");
        output.WriteLine($"  rwkv7 {LogitsCommand.Usage}");
        output.WriteLine($"  rwkv7 {BenchCommand.Usage}");
        output.WriteLine($"  rwkv7 {ConvertCommand.Usage}");
        output.WriteLine();
        output.WriteLine($"--model defaults to the {ModelOptions.ModelVariable} environment variable. Add --verbose to see stack traces.");
    }
}
