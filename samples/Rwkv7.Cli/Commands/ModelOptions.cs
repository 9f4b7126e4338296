using System.CommandLine;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Text;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Cli.Commands;

/// <summary>What a command asked to load: the checkpoint and how to run it.</summary>
/// <param name="Path">The checkpoint file.</param>
/// <param name="Engine">Which engine runs it.</param>
/// <param name="MatrixType">Precision to pack the matrices in; null keeps the file's.</param>
/// <param name="Threads">Threads per call, or 0 for the engine's default.</param>
internal sealed record ModelRequest(string Path, EngineSelection Engine, TensorDType? MatrixType, int Threads);

/// <summary>
/// The options every command that loads a model shares: --model (or RWKV7_MODEL), --engine, --precision,
/// --threads, and for commands that handle text, --vocab (or RWKV7_VOCAB, or the vocabulary file next to the model).
/// One instance holds the options of one command line.
/// </summary>
/// <param name="keeps">What --precision keep keeps, as the help says it.</param>
internal sealed class ModelOptions(string keeps = "the matrices as the file stores them")
{
    public const string ModelVariable = "RWKV7_MODEL";
    public const string VocabularyVariable = "RWKV7_VOCAB";

    /// <summary>Files at least this large show a progress bar while they load.</summary>
    private const long ProgressBarBytes = 32L << 20;

    private static readonly (string, TensorDType?)[] Precisions =
        [("keep", null), ("bf16", TensorDType.BF16), ("fp16", TensorDType.F16), ("fp32", TensorDType.F32), ("q8", TensorDType.Q8), ("q4", TensorDType.Q4)];

    public Option<string?> Model { get; } = ModelOption($"the checkpoint: .pth, .safetensors, .gguf or rwkv.cpp .bin (default: ${ModelVariable})");

    public Option<EngineSelection?> Engine { get; } = EngineOption();

    public Option<TensorDType?> Precision { get; } = PrecisionOption(keeps);

    public Option<int?> Threads { get; } = ThreadsOption(min: 1);

    public Option<string?> Vocabulary { get; } = VocabularyOption();

    /// <summary>Adds --model, --engine, --precision and --threads to <paramref name="command"/>, and --vocab when it handles text.</summary>
    public void AddTo(Command command, bool vocabulary)
    {
        command.Options.Add(Model);
        if (vocabulary)
        {
            command.Options.Add(Vocabulary);
        }

        command.Options.Add(Engine);
        command.Options.Add(Precision);
        command.Options.Add(Threads);
    }

    /// <summary>Reads --model (or RWKV7_MODEL), --engine, --precision and --threads without loading anything.</summary>
    /// <exception cref="UsageException">No model was given.</exception>
    public ModelRequest Read(ParseResult parse, CliConsole console) =>
        new(RequireModel(parse, Model, console), parse.GetValue(Engine) ?? EngineSelection.Auto, parse.GetValue(Precision), parse.GetValue(Threads) ?? 0);

    /// <summary>The checkpoint --model (or RWKV7_MODEL) names.</summary>
    /// <exception cref="UsageException">Neither names one.</exception>
    public static string RequireModel(ParseResult parse, Option<string?> model, CliConsole console) =>
        parse.ValueOrEnvironment(model, console, ModelVariable)
        ?? throw new UsageException($"{parse.CommandResult.Command.Name} needs --model (or the {ModelVariable} environment variable)");

    /// <summary>The vocabulary given by --vocab or RWKV7_VOCAB, or null.</summary>
    public string? ReadVocabulary(ParseResult parse, CliConsole console) => parse.ValueOrEnvironment(Vocabulary, console, VocabularyVariable);

    /// <summary>--model, described as the command uses it.</summary>
    public static Option<string?> ModelOption(string description) => CliOptions.Text("--model", "PATH", description);

    /// <summary>--engine: which engine runs the model (null: auto).</summary>
    public static Option<EngineSelection?> EngineOption() => CliOptions.Choice<EngineSelection?>(
        "--engine",
        "which engine runs the model: auto (the default) uses generated kernels when this program has the model's shape, else the reference engine",
        [("auto", EngineSelection.Auto), ("reference", EngineSelection.Reference), ("generated", EngineSelection.Generated)]);

    /// <summary>
    /// --precision: null for keep (the default: matrices as the file stores their values), else the type to pack them
    /// in (q8 and q4 are quantized at load time).
    /// </summary>
    public static Option<TensorDType?> PrecisionOption(string keeps) => CliOptions.Choice(
        "--precision", $"the type to pack the matrices in: keep (the default) keeps {keeps}; q8 and q4 are quantized at load time", Precisions);

    /// <summary>--threads: threads per call, at least <paramref name="min"/> (null: the engine's default).</summary>
    public static Option<int?> ThreadsOption(int min) =>
        CliOptions.OptionalInt("--threads", "N", "threads per call (default: the engine's choice for this processor)", min, 1024);

    /// <summary>--vocab: the World vocabulary file, described as the command uses it (by default, as models use it).</summary>
    public static Option<string?> VocabularyOption(string? description = null) => CliOptions.Text(
        "--vocab", "FILE",
        description ?? $"the World vocabulary (default: ${VocabularyVariable}, else the one a GGUF file carries, else " +
        $"{WorldTokenizer.VocabularyFileName} beside the model; models of 256 tokens read bytes and need none)");

    /// <summary>Loads the checkpoint, with a progress bar on a terminal when the file is large.</summary>
    public static RwkvModel Load(ModelRequest request, CliConsole console)
    {
        var file = new FileInfo(request.Path);
        if (Directory.Exists(request.Path))
        {
            throw new FileNotFoundException($"'{request.Path}' is a folder; --model needs a checkpoint file (.pth, .safetensors, .gguf or rwkv.cpp .bin)");
        }

        if (!file.Exists)
        {
            throw new FileNotFoundException($"no model file at '{request.Path}'");
        }

        using var progress = new ProgressBar("loading", console.Error, console.IsErrorTerminal && file.Length >= ProgressBarBytes);
        RwkvModel model = RwkvModel.Load(request.Path, new RwkvModelOptions
        {
            Engine = request.Engine,
            Weights = new WeightLoadOptions { MatrixType = request.MatrixType, Progress = progress },
        });
        progress.Complete();
        if (request.Threads > 0)
        {
            model.Threads = request.Threads;
        }

        return model;
    }

    /// <summary>
    /// The tokenizer for <paramref name="model"/>: bytes for a 256-token vocabulary, otherwise the World vocabulary:
    /// the one given (--vocab or RWKV7_VOCAB), else the one a GGUF file carries, else the file beside the model.
    /// </summary>
    public static RwkvTokenizer LoadTokenizer(RwkvModel model, ModelRequest request, string? vocabulary)
    {
        string? path = vocabulary is null && model.Weights.Gguf is { HasWorldVocabulary: true }
            ? null
            : ResolveVocabularyPath(model.Shape, request.Path, vocabulary);
        return RwkvTokenizers.ForModel(model.Weights, path);
    }

    /// <summary>
    /// Where the World vocabulary of a model comes from: the given path, else <c>rwkv_vocab_v20230424.txt</c> in the
    /// model's folder. Null for byte-level models (vocabulary 256), which need none.
    /// </summary>
    /// <exception cref="UsageException">The model needs a vocabulary and none was found.</exception>
    public static string? ResolveVocabularyPath(ModelShape shape, string modelPath, string? given) =>
        ResolveVocabularyPath(shape.Vocab, modelPath, given);

    /// <inheritdoc cref="ResolveVocabularyPath(ModelShape, string, string?)"/>
    public static string? ResolveVocabularyPath(int vocab, string modelPath, string? given)
    {
        if (vocab == ByteTokenizer.ByteVocabularySize)
        {
            return null;
        }

        if (given is not null)
        {
            return File.Exists(given) ? given : throw new FileNotFoundException($"no vocabulary file at '{given}'");
        }

        string beside = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".", WorldTokenizer.VocabularyFileName);
        return File.Exists(beside)
            ? beside
            : throw new UsageException(
                $"the model has a {vocab}-token vocabulary and needs the World tokenizer: pass --vocab {WorldTokenizer.VocabularyFileName}, " +
                $"set {VocabularyVariable}, or put the file next to the model");
    }
}
