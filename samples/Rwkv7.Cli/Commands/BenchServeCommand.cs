using Rwkv7.Cli.CommandLine;
using Rwkv7.Serving.Benchmarking;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 bench-serve</c>: a bounded load test of <c>serve</c> over loopback in this process (docs/serving.md):
/// concurrent streaming clients against the engine's own batch speed, time to first token, batch invariance, and the
/// state cache's effect on a second chat turn.
/// </summary>
internal static class BenchServeCommand
{
    public const string Usage = "bench-serve (--model PATH | --shape NAME) [--vocab FILE] [--clients N] [--tokens N] [--rounds N] [--follow-up-tokens N] [--engine ...] [--precision ...] [--threads N]";

    public static async Task<int> RunAsync(CommandArguments args, CliConsole console)
    {
        ServeModelSource source = ServeArguments.ParseModel(args);
        var options = new ServeBenchmarkOptions(
            args.Int("clients", 16, 1, 256), args.Int("tokens", 64, 1, 4096), args.Int("rounds", 3, 1, 100), args.Int("follow-up-tokens", 1024, 16, 65536));
        args.EnsureAllUsed();
        using ServedModel served = ServedModel.Load(source, console);
        await ServeBenchmark.RunAsync(served.Model, served.Tokenizer, options, console.Out).ConfigureAwait(false);
        return 0;
    }
}
