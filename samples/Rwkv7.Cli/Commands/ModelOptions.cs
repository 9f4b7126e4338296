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
/// </summary>
internal static class ModelOptions
{
    public const string ModelVariable = "RWKV7_MODEL";
    public const string VocabularyVariable = "RWKV7_VOCAB";
    public const string Usage = "--model PATH [--engine auto|reference|generated] [--precision keep|bf16|fp16|fp32|q8|q4] [--threads N]";
    public const string VocabularyUsage = "[--vocab FILE]";

    /// <summary>Files at least this large show a progress bar while they load.</summary>
    private const long ProgressBarBytes = 32L << 20;

    /// <summary>Reads --model, --engine, --precision and --threads without loading anything.</summary>
    public static ModelRequest Parse(CommandArguments args)
    {
        string path = args.Required("model", ModelVariable);
        EngineSelection engine = ParseEngine(args.Option("engine"));
        TensorDType? matrixType = ParsePrecision(args.Option("precision"));
        int threads = args.Int("threads", 0, 1, 1024);
        return new ModelRequest(path, engine, matrixType, threads);
    }

    /// <summary>
    /// --precision: null for keep (the default: matrices as the file stores their values), else the type to pack them
    /// in (q8 and q4 are quantized at load time).
    /// </summary>
    public static TensorDType? ParsePrecision(string? option) => option switch
    {
        null or "keep" => null,
        "bf16" => TensorDType.BF16,
        "fp16" => TensorDType.F16,
        "fp32" => TensorDType.F32,
        "q8" => TensorDType.Q8,
        "q4" => TensorDType.Q4,
        string other => throw new UsageException($"--precision must be keep, bf16, fp16, fp32, q8 or q4, not '{other}'"),
    };

    /// <summary>The vocabulary given by --vocab or RWKV7_VOCAB, or null.</summary>
    public static string? ParseVocabulary(CommandArguments args) => args.OptionOrEnvironment("vocab", VocabularyVariable);

    public static EngineSelection ParseEngine(string? text) => (text ?? "auto") switch
    {
        "auto" => EngineSelection.Auto,
        "reference" => EngineSelection.Reference,
        "generated" => EngineSelection.Generated,
        string other => throw new UsageException($"--engine must be auto, reference or generated, not '{other}'"),
    };

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
