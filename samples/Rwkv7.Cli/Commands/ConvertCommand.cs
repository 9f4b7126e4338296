using System.CommandLine;
using System.Globalization;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Loading.Gguf;
using Rwkv7.Gen.Text;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 convert --model PATH --out FILE.safetensors|FILE.gguf [--precision …] [--vocab FILE]</c>: any supported
/// checkpoint to safetensors with canonical names, or to GGUF as llama.cpp reads it, keeping or changing the matrices'
/// precision (GGUF also takes q8 → Q8_0 and q4 → Q4_0). A GGUF file carries its vocabulary: World models take the
/// source GGUF's, the one given with --vocab, or the vocabulary file beside the model.
/// </summary>
internal static class ConvertCommand
{
    private const string GgufExtension = ".gguf";

    private static readonly (string, TensorDType?)[] Precisions =
        [("keep", null), ("bf16", TensorDType.BF16), ("fp32", TensorDType.F32), ("fp16", TensorDType.F16), ("q8", TensorDType.Q8), ("q4", TensorDType.Q4)];

    public static Command Create(CliConsole console)
    {
        Option<string?> model = ModelOptions.ModelOption($"the checkpoint to convert (default: ${ModelOptions.ModelVariable})");
        Option<string?> output = CliOptions.Text("--out", "FILE", "the file to write: FILE.safetensors (canonical names) or FILE.gguf (as llama.cpp reads it)");
        Option<TensorDType?> precision = CliOptions.Choice(
            "--precision",
            "the matrices' type: keep (the default) keeps the source's; q8 and q4 write GGUF's Q8_0 and Q4_0 (.gguf only)",
            Precisions,
            expected: "keep, bf16, fp32 or fp16 (or q8, q4 for .gguf)");
        Option<string?> vocab = ModelOptions.VocabularyOption(
            $"the World vocabulary to write into a GGUF file (default: ${ModelOptions.VocabularyVariable}, else the source GGUF's, " +
            $"else {WorldTokenizer.VocabularyFileName} beside the model)");

        var command = new Command("convert", "Convert a checkpoint to safetensors or GGUF, keeping or changing the matrices' precision.") { model, output, precision, vocab };
        command.SetAction(parse => Run(
            console,
            ModelOptions.RequireModel(parse, model, console),
            parse.GetValue(output) ?? throw new UsageException("convert needs --out"),
            parse.GetValue(precision),
            parse.ValueOrEnvironment(vocab, console, ModelOptions.VocabularyVariable)));
        return command;
    }

    private static int Run(CliConsole console, string input, string outPath, TensorDType? precision, string? vocabulary)
    {
        bool gguf = outPath.EndsWith(GgufExtension, StringComparison.OrdinalIgnoreCase);
        if (precision is TensorDType.Q8 or TensorDType.Q4 && !gguf)
        {
            throw new UsageException("--precision q8 and q4 write GGUF's Q8_0 and Q4_0: give --out a .gguf name");
        }

        using Checkpoint checkpoint = Checkpoint.Open(input);
        using var progress = new ProgressBar("converting", console);
        ModelShape shape = gguf
            ? GgufWriter.Write(checkpoint, outPath, new GgufWriteOptions
            {
                MatrixType = precision,
                Vocabulary = GgufVocabulary(checkpoint, input, vocabulary),
                Progress = progress,
            })
            : SafetensorsWriter.Write(checkpoint, outPath, precision, progress);
        progress.Complete();
        console.Out.WriteLine(string.Format(
            CultureInfo.InvariantCulture, "wrote {0} ({1}, {2} matrices, {3:N0} parameters)",
            outPath, shape, precision?.DisplayName() ?? "original", shape.ParameterCount));
        return 0;
    }

    /// <summary>
    /// The World vocabulary to write into a GGUF file: the one given, else none when the source GGUF carries one (the
    /// writer copies it) or the model works on bytes, else the vocabulary file beside the model.
    /// </summary>
    private static WorldTokenizer? GgufVocabulary(Checkpoint checkpoint, string input, string? given)
    {
        int vocab = checkpoint.Find("emb.weight") is { Shape.Count: 2 } emb ? emb.Shape[0] : ByteTokenizer.ByteVocabularySize;
        if (given is null && (vocab == ByteTokenizer.ByteVocabularySize || checkpoint.Gguf is { HasWorldVocabulary: true }))
        {
            return null;
        }

        string? path = ModelOptions.ResolveVocabularyPath(vocab, input, given);
        return path is null ? null : WorldTokenizer.Load(path);
    }
}
