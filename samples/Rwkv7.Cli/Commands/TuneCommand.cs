using System.CommandLine;
using System.Globalization;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 tune</c>: which processor this is, what the tuning table knows of it, and a calibration of the prefetch
/// policies and, for 4-bit weights, of a prompt's product path on a model's weights (a checkpoint, or synthetic weights
/// of a released shape), with every round's figure;
/// <c>--save</c> keeps the result for this processor (<see cref="TuningFiles"/>).
/// </summary>
internal static class TuneCommand
{
    /// <summary>The command's name: the one command that does not start from the saved tuning.</summary>
    public const string Name = "tune";

    public static Command Create(CliConsole console)
    {
        Option<string?> model = ModelOptions.ModelOption("a checkpoint to calibrate on");
        Option<string?> shape = BenchCommand.ShapeOption("synthetic weights of a shape to calibrate on");
        Option<TensorDType?> precision = ModelOptions.PrecisionOption(keeps: "a checkpoint's type (synthetic weights: bf16)");
        Option<bool> save = CliOptions.Flag("--save", "keep the result for this processor: every command run on it uses it from then on");
        Option<string?> output = CliOptions.Text("--out", "FILE", "write the result to FILE instead (RWKV7_TUNING names a file to use)");

        var command = new Command(Name, "Calibrate the kernels' prefetch policy and 4-bit prompt path on this processor, and say what the tuning table knows of it.")
        {
            model, shape, precision, save, output,
        };
        command.SetAction(parse => Run(console, parse.GetValue(model), parse.GetValue(shape), parse.GetValue(precision), parse.GetValue(save), parse.GetValue(output)));
        return command;
    }

    private static int Run(CliConsole console, string? modelPath, string? shapeName, TensorDType? precision, bool save, string? outPath)
    {
        if ((modelPath is null) == (shapeName is null))
        {
            throw new UsageException("tune needs exactly one of --model PATH or --shape NAME|FILE");
        }

        if (save && outPath is not null)
        {
            throw new UsageException("give --save (this processor's default file) or --out FILE, not both");
        }

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

        CpuTuning chosen = report.Chosen;
        if (TuningCalibration.CalibratePrompts(model, chosen) is { } prompts)
        {
            o.WriteLine(string.Format(c, "prompts      one thread, a prompt block's 4-bit FFN products at {0} bits, integer inputs against rows widened to fp32, {1:0.0} M weights times every row of a block, {2:0} ms in all", prompts.VectorBits, prompts.Weights / 1e6, prompts.Elapsed.TotalMilliseconds));
            foreach (PromptTrial trial in prompts.Trials)
            {
                string rounds = string.Join(" ", trial.IntegerMilliseconds.Zip(trial.WidenedMilliseconds, (i, w) => string.Format(c, "{0:0.00}/{1:0.00}", i, w)));
                o.WriteLine(string.Format(c, "  {0,2} rows  integer {1,6:0.00} ms, widened {2,6:0.00} ms: integer {3:0.00}x   rounds (integer/widened ms): {4}", trial.Tokens, trial.IntegerMedian, trial.WidenedMedian, trial.IntegerSpeedup, rounds));
            }

            chosen = prompts.Chosen;
        }
        else
        {
            o.WriteLine($"prompts      not calibrated: {(model.Weights.Layers.Any(l => l.FfnKey.Type == TensorDType.Q4 && l.FfnValue.Type == TensorDType.Q4) ? "this processor's vectors have no 4-bit integer products" : "the model has no 4-bit FFN matrices (--precision q4 quantizes them)")}");
        }

        o.WriteLine($"chosen       {chosen.Describe()}");
        if (outPath is not null)
        {
            string? folder = Path.GetDirectoryName(Path.GetFullPath(outPath));
            if (folder is not null)
            {
                Directory.CreateDirectory(folder);
            }

            // Written beside the target and moved over it: a reader never sees half a file.
            string temporary = outPath + ".tmp";
            File.WriteAllText(temporary, chosen.ToText(cpu));
            File.Move(temporary, outPath, overwrite: true);
            o.WriteLine($"saved        {outPath} (commands on this processor use it from now on)");
        }

        return 0;
    }
}
