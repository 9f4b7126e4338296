using System.CommandLine;
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
    public static Command Create(CliConsole console)
    {
        var model = new ServeModelOptions();
        var server = new ServeArguments();
        var command = new Command("serve", "Serve one model over an OpenAI-compatible HTTP API, with continuous batching and a state cache.");
        model.AddTo(command);
        server.AddTo(command);
        command.SetAction((parse, _) =>
        {
            ServeModelSource source = model.Read(parse, console);
            string? modelName = server.ModelName(parse);
            return RunAsync(console, source, modelName, server.Read(parse, console, modelName ?? "rwkv7"));
        });
        return command;
    }

    private static async Task<int> RunAsync(CliConsole console, ServeModelSource source, string? modelName, ServeOptions options)
    {
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
