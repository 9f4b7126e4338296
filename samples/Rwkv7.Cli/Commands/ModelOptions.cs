using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;

namespace Rwkv7.Cli.Commands;

/// <summary>The options every command that loads a model shares: --model and --engine.</summary>
internal static class ModelOptions
{
    public const string ModelVariable = "RWKV7_MODEL";

    public static RwkvModel Load(CommandArguments args)
    {
        string path = args.Required("model", ModelVariable);
        return RwkvModel.Load(path, new RwkvModelOptions { Engine = ParseEngine(args.Option("engine")) });
    }

    public static EngineSelection ParseEngine(string? text) => (text ?? "auto") switch
    {
        "auto" => EngineSelection.Auto,
        "reference" => EngineSelection.Reference,
        "generated" => EngineSelection.Generated,
        string other => throw new UsageException($"--engine must be auto, reference or generated, not '{other}'"),
    };
}
