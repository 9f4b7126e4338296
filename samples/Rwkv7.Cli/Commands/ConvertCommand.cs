using System.Globalization;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 convert --model PATH --out FILE.safetensors [--precision keep|bf16|fp32|fp16]</c>: any supported
/// checkpoint to safetensors with canonical names, keeping or changing the matrices' precision.
/// </summary>
internal static class ConvertCommand
{
    public const string Usage = "convert --model PATH --out FILE.safetensors [--precision keep|bf16|fp32|fp16]";

    public static int Run(CommandArguments args, CliConsole console)
    {
        string input = args.Required("model", ModelOptions.ModelVariable);
        string outPath = args.Required("out");
        TensorDType? precision = (args.Option("precision") ?? "keep") switch
        {
            "keep" => null,
            "bf16" => TensorDType.BF16,
            "fp32" => TensorDType.F32,
            "fp16" => TensorDType.F16,
            string other => throw new UsageException($"--precision must be keep, bf16, fp32 or fp16, not '{other}'"),
        };
        args.EnsureAllUsed();

        using Checkpoint checkpoint = Checkpoint.Open(input);
        using var progress = new ProgressBar("converting", console);
        ModelShape shape = SafetensorsWriter.Write(checkpoint, outPath, precision, progress);
        progress.Complete();
        console.Out.WriteLine(string.Format(
            CultureInfo.InvariantCulture, "wrote {0} ({1}, {2} matrices, {3:N0} parameters)",
            outPath, shape, precision?.DisplayName() ?? "original", shape.ParameterCount));
        return 0;
    }
}
