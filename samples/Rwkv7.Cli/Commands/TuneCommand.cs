using System.Globalization;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 tune</c>: which processor this is, what the tuning table knows of it, and a calibration of the prefetch
/// policies on a model's weights (a checkpoint, or synthetic weights of a released shape), with every round's figure;
/// <c>--save</c> keeps the result for this processor (<see cref="TuningFiles"/>).
/// </summary>
internal static class TuneCommand
{
    public const string Usage = "tune (--model PATH | --shape NAME|FILE) [--precision keep|bf16|fp16|fp32|q8|q4] [--save | --out FILE]";

    public static int Run(CommandArguments args, CliConsole console)
    {
        string? modelPath = args.Option("model");
        string? shapeName = args.Option("shape");
        if ((modelPath is null) == (shapeName is null))
        {
            throw new UsageException("tune needs exactly one of --model PATH or --shape NAME|FILE");
        }

        TensorDType? precision = ModelOptions.ParsePrecision(args.Option("precision"));
        bool save = args.Flag("save");
        string? outPath = args.Option("out");
        if (save && outPath is not null)
        {
            throw new UsageException("give --save (this processor's default file) or --out FILE, not both");
        }

        args.EnsureAllUsed();
        CpuIdentity cpu = CpuIdentity.Current;
        if (save)
        {
            outPath = TuningFiles.DefaultPath(cpu, console.GetEnvironmentVariable)
                ?? throw new UsageException("--save needs HOME or XDG_CACHE_HOME to find the cache folder; give --out FILE");
        }

        RwkvWeights weights = modelPath is not null
            ? RwkvWeights.Load(modelPath, new WeightLoadOptions { MatrixType = precision })
            : RwkvWeights.CreateSynthetic(BenchCommand.ResolveShape(shapeName!), precision ?? TensorDType.BF16);
        using RwkvModel model = RwkvModel.Create(weights, EngineSelection.Generated, ownsWeights: true);

        TextWriter o = console.Out;
        CultureInfo c = CultureInfo.InvariantCulture;
        CpuTuning baseline = CpuTuning.ForProcessor(cpu, console.GetEnvironmentVariable);
        o.WriteLine($"cpu          {cpu} (read by {cpu.Source})");
        o.WriteLine($"table        {(CpuTuningTable.Find(cpu) is { } entry ? $"'{entry.Name}': {entry.Evidence}" : "no entry for this processor: engines calibrate when they start")}");
        o.WriteLine($"in use       {model.Tuning!.Describe()}");
        o.WriteLine($"             from {model.Tuning.Origin}");
        o.WriteLine($"model        {model.EngineName}, {model.Weights.MatrixType?.DisplayName() ?? "mixed"} weights");

        CalibrationReport report = TuningCalibration.Run(model, baseline);
        o.WriteLine(string.Format(c, "calibration  one thread, one-token products over {0} matrices, {1:0.0} MiB of weights per trial, {2:0} ms in all", report.Matrices, report.BytesPerTrial / 1048576.0, report.Elapsed.TotalMilliseconds));
        foreach (CalibrationCandidate candidate in report.Candidates)
        {
            string rounds = string.Join(" ", candidate.GigabytesPerSecond.Select(g => g.ToString("0.0", c)));
            o.WriteLine(string.Format(c, "  prefetch {0,-4} median {1,6:0.0} GB/s   rounds: {2}", CpuTuning.HintName(candidate.Hint), candidate.Median, rounds));
        }

        o.WriteLine($"chosen       {report.Chosen.Describe()}");
        if (outPath is not null)
        {
            string? folder = Path.GetDirectoryName(Path.GetFullPath(outPath));
            if (folder is not null)
            {
                Directory.CreateDirectory(folder);
            }

            // Written beside the target and moved over it: a reader never sees half a file.
            string temporary = outPath + ".tmp";
            File.WriteAllText(temporary, report.Chosen.ToText(cpu));
            File.Move(temporary, outPath, overwrite: true);
            o.WriteLine($"saved        {outPath} (commands on this processor use it from now on)");
        }

        return 0;
    }
}
