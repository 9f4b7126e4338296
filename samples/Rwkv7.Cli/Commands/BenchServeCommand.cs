using System.CommandLine;
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
    public static Command Create(CliConsole console)
    {
        var model = new ServeModelOptions();
        Option<int> clients = CliOptions.Int("--clients", "N", "concurrent streaming clients", 16, 1, 256);
        Option<int> tokens = CliOptions.Int("--tokens", "N", "tokens each client asks for", 64, 1, 4096);
        Option<int> rounds = CliOptions.Int("--rounds", "N", "rounds of requests", 3, 1, 100);
        Option<int> followUp = CliOptions.Int("--follow-up-tokens", "N", "length of the conversation whose second turn tests the state cache", 1024, 16, 65536);
        var command = new Command("bench-serve", "Load-test serve over loopback in this process: throughput, time to first token, batch invariance, state cache.");
        model.AddTo(command);
        command.Options.Add(clients);
        command.Options.Add(tokens);
        command.Options.Add(rounds);
        command.Options.Add(followUp);
        command.SetAction((parse, _) => RunAsync(
            console, model.Read(parse, console),
            new ServeBenchmarkOptions(parse.GetValue(clients), parse.GetValue(tokens), parse.GetValue(rounds), parse.GetValue(followUp))));
        return command;
    }

    private static async Task<int> RunAsync(CliConsole console, ServeModelSource source, ServeBenchmarkOptions options)
    {
        using ServedModel served = ServedModel.Load(source, console);
        await ServeBenchmark.RunAsync(served.Model, served.Tokenizer, options, console.Out).ConfigureAwait(false);
        return 0;
    }
}
