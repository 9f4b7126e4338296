using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Text;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Cli.Commands;

/// <summary>The model a server runs, its tokenizer, the id it is served under and a fingerprint of its weights.</summary>
internal sealed class ServedModel(RwkvModel model, RwkvTokenizer tokenizer, string defaultId, string fingerprint) : IDisposable
{
    public RwkvModel Model { get; } = model;

    public RwkvTokenizer Tokenizer { get; } = tokenizer;

    /// <summary>The id under which the model is listed unless --model-name says otherwise.</summary>
    public string DefaultId { get; } = defaultId;

    /// <summary>Names the weights (file name, size, time, shape, precision), so cached states of other weights are not read.</summary>
    public string Fingerprint { get; } = fingerprint;

    /// <summary>Loads a checkpoint, or makes synthetic weights of a shape (bf16 unless --precision says otherwise).</summary>
    public static ServedModel Load(ServeModelSource source, CliConsole console)
    {
        RwkvModel model;
        string id, fingerprint;
        if (source.ModelPath is { } path)
        {
            var request = new ModelRequest(path, source.Engine, source.Precision, source.Threads);
            model = ModelOptions.Load(request, console);
            var file = new FileInfo(path);
            id = Path.GetFileNameWithoutExtension(path);
            fingerprint = $"{file.Name}:{file.Length}:{file.LastWriteTimeUtc.Ticks}:{model.Shape}:{source.Precision?.ToString() ?? "keep"}";
        }
        else
        {
            ModelShape shape = BenchCommand.ResolveShape(source.ShapeName!);
            TensorDType precision = source.Precision ?? TensorDType.BF16;
            model = RwkvModel.Create(RwkvWeights.CreateSynthetic(shape, precision), source.Engine, ownsWeights: true);
            if (source.Threads > 0)
            {
                model.Threads = source.Threads;
            }

            id = "rwkv7-synthetic-" + source.ShapeName;
            fingerprint = $"synthetic:{shape}:{precision}";
        }

        try
        {
            string? vocabulary = source.ModelPath is { } p
                ? ModelOptions.ResolveVocabularyPath(model.Shape, p, source.Vocabulary)
                : model.Shape.Vocab == ByteTokenizer.ByteVocabularySize ? null
                : source.Vocabulary ?? throw new UsageException($"--shape {source.ShapeName} has a {model.Shape.Vocab}-token vocabulary: pass --vocab {WorldTokenizer.VocabularyFileName}");
            return new ServedModel(model, RwkvTokenizers.ForModel(model.Shape, vocabulary), id, fingerprint);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public void Dispose() => Model.Dispose();
}
