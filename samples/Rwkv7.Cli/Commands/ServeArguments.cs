using System.Net;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;
using Rwkv7.Gen.Chat;
using Rwkv7.Gen.Loading;
using Rwkv7.Serving;

namespace Rwkv7.Cli.Commands;

/// <summary>What <c>serve</c> (and <c>bench-serve</c>) were asked to load.</summary>
/// <param name="ModelPath">A checkpoint, or null with <paramref name="ShapeName"/>.</param>
/// <param name="ShapeName">A shape for synthetic weights, or null with <paramref name="ModelPath"/>.</param>
/// <param name="Vocabulary">--vocab (or RWKV7_VOCAB), or null.</param>
/// <param name="Engine">--engine.</param>
/// <param name="Precision">--precision; null keeps a checkpoint's type (synthetic weights: bf16).</param>
/// <param name="Threads">--threads, or 0 for the engine's default.</param>
internal sealed record ServeModelSource(string? ModelPath, string? ShapeName, string? Vocabulary, EngineSelection Engine, TensorDType? Precision, int Threads);

/// <summary>
/// Every option of <c>rwkv7 serve</c>, read in one place (so the command line can move to another parser without
/// touching the server).
/// </summary>
internal static class ServeArguments
{
    public const string ApiKeyVariable = "RWKV7_API_KEY";

    public const string Usage =
        "serve (--model PATH | --shape NAME) [--vocab FILE] [--host ADDR] [--port N] [--api-key KEY] [--model-name ID] " +
        "[--max-batch N] [--max-queue N] [--max-prompt-tokens N] [--max-tokens N] [--max-request-bytes N] " +
        "[--state-cache-mib N] [--state-dir DIR] [--think off|on|skip] [--batch-invariant on|off] [--quiet] " +
        "[--engine ...] [--precision ...] [--threads N]";

    /// <summary>Reads the model options (shared with <c>bench-serve</c>).</summary>
    public static ServeModelSource ParseModel(CommandArguments args)
    {
        string? shape = args.Option("shape");
        string? model = shape is null ? args.OptionOrEnvironment("model", ModelOptions.ModelVariable) : args.Option("model");
        if ((model is null) == (shape is null))
        {
            throw new UsageException($"{args.Command} needs exactly one of --model PATH (or ${ModelOptions.ModelVariable}) or --shape NAME");
        }

        return new ServeModelSource(
            model, shape, ModelOptions.ParseVocabulary(args), ModelOptions.ParseEngine(args.Option("engine")),
            ModelOptions.ParsePrecision(args.Option("precision")), args.Int("threads", 0, 1, 1024));
    }

    /// <summary>Reads the server's options; the model id defaults to <paramref name="defaultModelId"/>.</summary>
    public static ServeOptions ParseServer(CommandArguments args, string defaultModelId)
    {
        string host = args.Option("host") ?? ServeOptions.DefaultHost;
        if (host != "localhost" && !IPAddress.TryParse(host, out _))
        {
            throw new UsageException($"--host must be an IP address or localhost, not '{host}'");
        }

        string? apiKey = args.OptionOrEnvironment("api-key", ApiKeyVariable);
        return new ServeOptions
        {
            Host = host,
            Port = args.Int("port", ServeOptions.DefaultPort, 0, ushort.MaxValue),
            ApiKey = apiKey,
            ModelId = args.Option("model-name") ?? defaultModelId,
            MaxBatch = args.Int("max-batch", ServeOptions.DefaultMaxBatch, 1, 4096),
            MaxQueue = args.Int("max-queue", ServeOptions.DefaultMaxQueue, 0, 1_000_000),
            MaxPromptTokens = args.Int("max-prompt-tokens", ServeOptions.DefaultMaxPromptTokens, 1, int.MaxValue),
            MaxCompletionTokens = args.Int("max-tokens", ServeOptions.DefaultMaxCompletionTokens, 1, int.MaxValue),
            MaxRequestBytes = args.Int("max-request-bytes", (int)ServeOptions.DefaultMaxRequestBytes, 1024, int.MaxValue),
            StateCacheBytes = (long)args.Int("state-cache-mib", ServeOptions.DefaultStateCacheMib, 0, 1 << 20) << 20,
            StateDirectory = args.Option("state-dir"),
            Thinking = args.Option("think") switch
            {
                null or "off" => ChatThinking.Off,
                "on" => ChatThinking.On,
                "skip" => ChatThinking.Skip,
                string other => throw new UsageException($"--think must be off, on or skip, not '{other}'"),
            },
            BatchInvariant = args.Option("batch-invariant") switch
            {
                null or "on" => true,
                "off" => false,
                string other => throw new UsageException($"--batch-invariant must be on or off, not '{other}'"),
            },
            AccessLog = !args.Flag("quiet"),
        };
    }
}
