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
    public const string Usage =
        "convert --model PATH --out FILE.safetensors|FILE.gguf [--precision keep|bf16|fp32|fp16, and for .gguf q8|q4] " + ModelOptions.VocabularyUsage;

    private const string GgufExtension = ".gguf";

    public static int Run(CommandArguments args, CliConsole console)
    {
        string input = args.Required("model", ModelOptions.ModelVariable);
        string outPath = args.Required("out");
        bool gguf = outPath.EndsWith(GgufExtension, StringComparison.OrdinalIgnoreCase);
        TensorDType? precision = (args.Option("precision") ?? "keep") switch
        {
            "keep" => null,
            "bf16" => TensorDType.BF16,
            "fp32" => TensorDType.F32,
            "fp16" => TensorDType.F16,
            "q8" when gguf => TensorDType.Q8,
            "q4" when gguf => TensorDType.Q4,
            "q8" or "q4" => throw new UsageException("--precision q8 and q4 write GGUF's Q8_0 and Q4_0: give --out a .gguf name"),
            string other => throw new UsageException($"--precision must be keep, bf16, fp32 or fp16 (or q8, q4 for .gguf), not '{other}'"),
        };
        string? vocabulary = ModelOptions.ParseVocabulary(args);
        args.EnsureAllUsed();

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
