using System.CommandLine;
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
/// The model options of <c>serve</c> and <c>bench-serve</c>: a checkpoint (--model, or RWKV7_MODEL) or synthetic
/// weights of a shape (--shape), and how to run it. One instance holds the options of one command line.
/// </summary>
internal sealed class ServeModelOptions
{
    private readonly ModelOptions _model = new(keeps: "a checkpoint's type (synthetic weights: bf16)");
    private readonly Option<string?> _shape = BenchCommand.ShapeOption("instead of a checkpoint, synthetic weights of a shape");

    /// <summary>Adds --model, --shape, --vocab, --engine, --precision and --threads to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(_shape);
        _model.AddTo(command, vocabulary: true);
    }

    /// <summary>Reads the model options; exactly one of --model (or RWKV7_MODEL) and --shape must be there.</summary>
    public ServeModelSource Read(ParseResult parse, CliConsole console)
    {
        string? shape = parse.GetValue(_shape);
        string? model = shape is null ? parse.ValueOrEnvironment(_model.Model, console, ModelOptions.ModelVariable) : parse.GetValue(_model.Model);
        if ((model is null) == (shape is null))
        {
            throw new UsageException($"{parse.CommandResult.Command.Name} needs exactly one of --model PATH (or ${ModelOptions.ModelVariable}) or --shape NAME");
        }

        return new ServeModelSource(
            model, shape, _model.ReadVocabulary(parse, console), parse.GetValue(_model.Engine) ?? EngineSelection.Auto,
            parse.GetValue(_model.Precision), parse.GetValue(_model.Threads) ?? 0);
    }
}

/// <summary>
/// The server's own options of <c>rwkv7 serve</c>, read in one place (so the command line can change without touching
/// the server). One instance holds the options of one command line.
/// </summary>
internal sealed class ServeArguments
{
    public const string ApiKeyVariable = "RWKV7_API_KEY";

    private readonly Option<string?> _host = CliOptions.Text("--host", "ADDR", $"the IP address (or localhost) to listen on (default: {ServeOptions.DefaultHost})");
    private readonly Option<int> _port = CliOptions.Int("--port", "N", "the TCP port; 0 picks a free one", ServeOptions.DefaultPort, 0, ushort.MaxValue);
    private readonly Option<string?> _apiKey = CliOptions.Text(
        "--api-key", "KEY", $"require 'Authorization: Bearer KEY' on every /v1 call and /metrics (default: ${ApiKeyVariable}; none: open)");
    private readonly Option<string?> _modelName = CliOptions.Text(
        "--model-name", "ID", "the model id /v1/models lists and requests name (default: the file's name, or rwkv7-synthetic-SHAPE)");
    private readonly Option<int> _maxBatch = CliOptions.Int("--max-batch", "N", "most requests decoding together", ServeOptions.DefaultMaxBatch, 1, 4096);
    private readonly Option<int> _maxQueue = CliOptions.Int("--max-queue", "N", "most requests waiting for a batch slot (one more gets 429)", ServeOptions.DefaultMaxQueue, 0, 1_000_000);
    private readonly Option<int> _maxPromptTokens = CliOptions.Int("--max-prompt-tokens", "N", "longest prompt accepted, in tokens", ServeOptions.DefaultMaxPromptTokens, 1);
    private readonly Option<int> _maxTokens = CliOptions.Int(
        "--max-tokens", "N", "most tokens one request may generate (and the default of chat requests)", ServeOptions.DefaultMaxCompletionTokens, 1);
    private readonly Option<int> _maxRequestBytes = CliOptions.Int(
        "--max-request-bytes", "N", "largest request body (a larger one gets 413)", (int)ServeOptions.DefaultMaxRequestBytes, 1024);
    private readonly Option<int> _stateCacheMib = CliOptions.Int(
        "--state-cache-mib", "N", "memory for cached conversation states, in MiB; 0 turns the cache off", ServeOptions.DefaultStateCacheMib, 0, 1 << 20);
    private readonly Option<string?> _stateDir = CliOptions.Text(
        "--state-dir", "DIR", "keep the state cache in this folder too, and read it back at start (default: memory only)");
    private readonly Option<ChatThinking?> _think = CliOptions.Choice<ChatThinking?>(
        "--think", "how assistant turns open when a request does not say: off (the default), on, or skip",
        [("off", ChatThinking.Off), ("on", ChatThinking.On), ("skip", ChatThinking.Skip)]);
    private readonly Option<OnOff?> _batchInvariant = CliOptions.OnOff(
        "--batch-invariant", "make a request's arithmetic independent of what else is in the batch: on (the default) or off");
    private readonly Option<bool> _quiet = CliOptions.Flag("--quiet", "no access log (one line per request on standard error)");

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (Option option in new Option[]
        {
            _host, _port, _apiKey, _modelName, _maxBatch, _maxQueue, _maxPromptTokens, _maxTokens, _maxRequestBytes, _stateCacheMib, _stateDir,
            _think, _batchInvariant, _quiet,
        })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The model id --model-name gives, or null.</summary>
    public string? ModelName(ParseResult parse) => parse.GetValue(_modelName);

    /// <summary>Reads the server's options; the model id defaults to <paramref name="defaultModelId"/>.</summary>
    public ServeOptions Read(ParseResult parse, CliConsole console, string defaultModelId)
    {
        string host = parse.GetValue(_host) ?? ServeOptions.DefaultHost;
        if (host != "localhost" && !IPAddress.TryParse(host, out _))
        {
            throw new UsageException($"--host must be an IP address or localhost, not '{host}'");
        }

        return new ServeOptions
        {
            Host = host,
            Port = parse.GetValue(_port),
            ApiKey = parse.ValueOrEnvironment(_apiKey, console, ApiKeyVariable),
            ModelId = parse.GetValue(_modelName) ?? defaultModelId,
            MaxBatch = parse.GetValue(_maxBatch),
            MaxQueue = parse.GetValue(_maxQueue),
            MaxPromptTokens = parse.GetValue(_maxPromptTokens),
            MaxCompletionTokens = parse.GetValue(_maxTokens),
            MaxRequestBytes = parse.GetValue(_maxRequestBytes),
            StateCacheBytes = (long)parse.GetValue(_stateCacheMib) << 20,
            StateDirectory = parse.GetValue(_stateDir),
            Thinking = parse.GetValue(_think) ?? ChatThinking.Off,
            BatchInvariant = parse.GetValue(_batchInvariant) != OnOff.Off,
            AccessLog = !parse.GetValue(_quiet),
        };
    }
}
