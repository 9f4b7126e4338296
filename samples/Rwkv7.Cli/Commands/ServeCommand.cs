using Rwkv7.Cli.CommandLine;
using Rwkv7.Serving;
using Rwkv7.Serving.Http;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 serve</c>: an OpenAI-compatible HTTP server over one model, with continuous batching and a state cache
/// (docs/serving.md). Prints one line saying where it listens; stops cleanly on Ctrl-C or SIGTERM (exit code 0).
/// </summary>
internal static class ServeCommand
{
    public const string Usage = ServeArguments.Usage;

    public static async Task<int> RunAsync(CommandArguments args, CliConsole console)
    {
        ServeModelSource source = ServeArguments.ParseModel(args);
        string? modelName = args.Option("model-name");
        ServeOptions options = ServeArguments.ParseServer(args, modelName ?? "rwkv7");
        args.EnsureAllUsed();

        using ServedModel served = ServedModel.Load(source, console);
        options = options with { ModelId = modelName ?? served.DefaultId };
        ServeHost host = await ServeHost.StartAsync(served.Model, served.Tokenizer, options, served.Fingerprint, console.Error, handleSignals: true).ConfigureAwait(false);
        await using (host.ConfigureAwait(false))
        {
            using IDisposable interrupts = console.Interrupts.Register(() =>
            {
                host.RequestStop();
                return true;
            });
            string key = options.ApiKey is null ? "no API key" : "API key required";
            console.Out.WriteLine($"rwkv7 serve: listening on {host.Address.ToString().TrimEnd('/')} (model {options.ModelId}, {served.Model.EngineName}, {served.Model.Threads} thread(s), {key})");
            console.Out.Flush();
            await host.WaitForShutdownAsync().ConfigureAwait(false);
        }

        console.Error.WriteLine("rwkv7 serve: stopped");
        return 0;
    }
}
