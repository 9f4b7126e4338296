using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;
using Rwkv7.Gen.Benchmarking;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 bench</c>: decode and prefill speed on a checkpoint or on synthetic weights of any shape, each printed
/// as a percentage of the hardware floor measured in the same run (memory bandwidth for decode, FMA throughput
/// for prefill).
/// </summary>
internal static class BenchCommand
{
    public static Command Create(CliConsole console)
    {
        Option<string?> model = ModelOptions.ModelOption("a checkpoint to measure");
        Option<string?> shape = ShapeOption("synthetic weights of a shape to measure");
        Option<TensorDType?> precision = ModelOptions.PrecisionOption(keeps: "a checkpoint's type (synthetic weights: bf16)");
        Option<int?> threads = ModelOptions.ThreadsOption(min: 0);
        Option<EngineSelection?> engine = ModelOptions.EngineOption();
        Option<int> tokens = CliOptions.Int("--tokens", "N", "tokens per decode run", 64, 1, 1_000_000);
        Option<int> prefill = CliOptions.Int("--prefill", "N", "tokens per prefill run", 512, 1, 1_000_000);
        Option<int> batch = CliOptions.Int("--batch", "N", "sequences decoded together in the batch run", 16, 1, 4096);
        Option<int> runs = CliOptions.Int("--runs", "N", "timed runs per phase (the median is reported)", 5, 1, 1000);
        Option<ProbeClock?> clock = CliOptions.Choice<ProbeClock?>(
            "--clock", "time by the wall clock (the default) or by the calling thread's CPU time (needs --threads 1)",
            [("wall", ProbeClock.Wall), ("cpu", ProbeClock.ThreadCpu)]);
        Option<bool> json = CliOptions.Flag("--json", "print the results as JSON");
        Option<bool> profile = CliOptions.Flag("--profile", "break each phase down by step");
        Option<int> context = CliOptions.Int("--context", "N", "instead: decode speed and memory as the context grows to N tokens, charted", 0, 0);
        Option<string?> svg = CliOptions.Text("--svg", "FILE", "where --context writes its chart (default: bench-context.svg)");
        Option<int> ab = CliOptions.Int("--ab", "PAIRS", "instead: time PAIRS pairs of runs with a switch off (A) and on (B)", 0, 0, 10_000);
        Option<string?> abSwitch = CliOptions.Text("--ab-switch", "SWITCH", AbSwitch.Help);

        var command = new Command("bench", "Measure decode, prefill and batch speed against this machine's memory and arithmetic floors.")
        {
            model, shape, precision, threads, engine, tokens, prefill, batch, runs, clock, json, profile, context, svg, ab, abSwitch,
        };
        command.SetAction(parse =>
        {
            var settings = new BenchSettings(
                parse.GetValue(tokens), parse.GetValue(prefill), parse.GetValue(batch), parse.GetValue(runs), parse.GetValue(clock) ?? ProbeClock.Wall,
                parse.GetValue(json), parse.GetValue(profile), parse.GetValue(context), parse.GetValue(svg) ?? "bench-context.svg",
                parse.GetValue(ab), parse.GetValue(abSwitch) ?? AbSwitch.Default);
            return Run(parse.GetValue(model), parse.GetValue(shape), parse.GetValue(precision), parse.GetValue(threads) ?? 0, parse.GetValue(engine) ?? EngineSelection.Auto, settings, console.Out);
        });
        return command;
    }

    /// <summary>--shape: a shape file, or the name of a model this program has generated kernels for.</summary>
    public static Option<string?> ShapeOption(string description) => CliOptions.Text(
        "--shape", "NAME|FILE", $"{description}: a shape file, or one of {string.Join(", ", GeneratedModelRegistry.Models.Select(m => m.Name))}");

    /// <summary>What to measure and how, besides the model.</summary>
    private sealed record BenchSettings(
        int DecodeTokens, int PrefillTokens, int Batch, int Runs, ProbeClock Clock, bool Json, bool Profile, long Context, string SvgPath, int AbPairs, string AbSwitch);

    private static int Run(string? modelPath, string? shapeName, TensorDType? precision, int threads, EngineSelection engine, BenchSettings settings, TextWriter output)
    {
        if ((modelPath is null) == (shapeName is null))
        {
            throw new UsageException("bench needs exactly one of --model PATH or --shape NAME|FILE");
        }

        (int decodeTokens, int prefillTokens, int batch, int runs, ProbeClock clock, bool json, bool profile, long context, string svgPath, int abPairs, string abSwitch) = settings;
        if (abPairs > 0)
        {
            _ = AbSwitch.Parse(abSwitch);
        }

        // Synthetic 8-bit weights are quantized from synthetic bf16 ones, as a checkpoint would be at load time. The
        // load is timed: reading, converting and quantizing a checkpoint is what a user waits for before the first token.
        long loadStart = Stopwatch.GetTimestamp();
        RwkvWeights weights = modelPath is not null
            ? RwkvWeights.Load(modelPath, new WeightLoadOptions { MatrixType = precision })
            : RwkvWeights.CreateSynthetic(ResolveShape(shapeName!), precision ?? TensorDType.BF16);
        var load = new LoadTime(Stopwatch.GetElapsedTime(loadStart), modelPath is null);
        using RwkvModel model = RwkvModel.Create(weights, engine, ownsWeights: true);
        if (threads > 0)
        {
            model.Threads = threads;
        }

        if (clock == ProbeClock.ThreadCpu && (model.Threads != 1 || !HardwareProbe.ThreadCpuClockAvailable))
        {
            throw new UsageException(model.Threads != 1
                ? "--clock cpu times the calling thread: add --threads 1"
                : "--clock cpu needs the thread CPU clock, which this system does not have");
        }

        if (abPairs > 0)
        {
            if (json || profile || context > 0)
            {
                throw new UsageException("--ab cannot be combined with --json, --profile or --context");
            }

            MeasureAb(model, decodeTokens, prefillTokens, batch, abPairs, AbSwitch.For(abSwitch, model), output);
            return 0;
        }

#if RWKV7_EXPERIMENT
        // A trial build measures the variant alone (--profile, --json) when RWKV7_VARIANT=1.
        Rwkv7.Gen.Benchmarking.Experiment.Variant = Environment.GetEnvironmentVariable("RWKV7_VARIANT") == "1";
#endif
        if (context > 0)
        {
            output.WriteLine($"{model.EngineName}, {model.Shape}, {model.Threads} thread(s): decode speed and memory as the context grows");
            List<ContextChart.Point> points = ContextChart.Measure(model, context, output);
            string title = $"{model.Shape.Layers}-layer D{model.Shape.Embedding} {model.Weights.MatrixType?.DisplayName() ?? "mixed"}, {model.Threads} thread(s): decode vs context";
            File.WriteAllText(svgPath, ContextChart.Svg(points, title));
            output.WriteLine($"chart written to {svgPath}");
            return 0;
        }

        BenchResult r = Measure(model, load, decodeTokens, prefillTokens, batch, runs, profile, clock);
        if (json)
        {
            WriteJson(r, output);
        }
        else
        {
            WriteTable(r, output);
            foreach (PhaseProfile phase in r.Profiles)
            {
                WriteProfile(phase, r.Threads, output);
            }
        }

        return 0;
    }

    /// <summary>A shape by its file path or by the name of a generated model (<c>0.1b</c>, <c>rwkv7-0.1b</c>, <c>tiny</c>).</summary>
    public static ModelShape ResolveShape(string nameOrFile)
    {
        if (File.Exists(nameOrFile))
        {
            return ShapeFiles.Load(nameOrFile).Shape;
        }

        string wanted = nameOrFile.StartsWith("rwkv7-", StringComparison.OrdinalIgnoreCase) ? nameOrFile : "rwkv7-" + nameOrFile;
        GeneratedModelInfo? info = GeneratedModelRegistry.FindByName(wanted) ?? GeneratedModelRegistry.FindByName(nameOrFile);
        return info?.Shape ?? throw new UsageException(
            $"unknown shape '{nameOrFile}': use a shape file path or one of {string.Join(", ", GeneratedModelRegistry.Models.Select(m => m.Name))}");
    }

    private sealed record BenchResult(
        string Engine, string Precision, int Threads, string Vectors, ModelShape Shape, string Cpu, CpuTuning? Tuning,
        long WeightBytesPerToken, double FlopsPerToken,
        double Bandwidth1, double BandwidthN, double Fma1, double FmaN,
        double DecodeTokensPerSecond, double PrefillTokensPerSecond, int PrefillTokens,
        int BatchSize, double BatchTokensPerSecond, long PeakRssBytes, long WeightBytes, LoadTime Load, IReadOnlyList<PhaseProfile> Profiles, ProbeClock Clock)
    {
        public double BandwidthFloor => BandwidthN / WeightBytesPerToken;

        public double ComputeFloor => FmaN / FlopsPerToken;
    }

    /// <summary>
    /// How long the weights took to be ready: a checkpoint read, converted and quantized to the packed arena, or
    /// (<paramref name="Synthetic"/>) synthetic weights made and packed, which reads no file.
    /// </summary>
    private readonly record struct LoadTime(TimeSpan Elapsed, bool Synthetic);

    /// <summary>Step timings of one phase's timed runs (<c>--profile</c>): <paramref name="Tokens"/> tokens in <paramref name="Elapsed"/>.</summary>
    private sealed record PhaseProfile(string Phase, long Tokens, TimeSpan Elapsed, IReadOnlyList<StepTiming> Steps)
    {
        public double MsPerToken(TimeSpan t) => t.TotalMilliseconds / Tokens;
    }

    private static BenchResult Measure(RwkvModel model, LoadTime load, int decodeTokens, int prefillTokens, int batch, int runs, bool profile, ProbeClock clock)
    {
        var profiles = new List<PhaseProfile>();

        // Times `runs` runs of `run` (each of `tokensPerRun` tokens; `before`, untimed, ahead of each) and returns their
        // tokens per second; with --profile it also keeps the phase's step timings.
        List<double> TimeRuns(string phase, long tokensPerRun, Action run, Action? before = null)
        {
            model.StepTimings = profile ? new StepTimings() : null;
            var rates = new List<double>(runs);
            TimeSpan timed = TimeSpan.Zero;
            for (int i = 0; i < runs; i++)
            {
                before?.Invoke();
                double start = HardwareProbe.Now(clock);
                run();
                TimeSpan elapsed = TimeSpan.FromSeconds(HardwareProbe.Now(clock) - start);
                timed += elapsed;
                rates.Add(tokensPerRun / elapsed.TotalSeconds);
            }

            if (model.StepTimings is { } t)
            {
                profiles.Add(new PhaseProfile(phase, runs * tokensPerRun, timed, t.Steps));
                model.StepTimings = null;
            }

            return rates;
        }

        ModelShape s = model.Shape;
        int threads = model.Threads;

        // The floors are measured before the timed phases and again after them, and the better of each is used: on a
        // shared machine a single probe can catch a slow minute (one thread's probe once read 35 GB/s while decode
        // streamed 37). The probe streams exactly as many bytes as a decoded token reads, from the model's own weights
        // (a larger buffer measures less bandwidth than the model can get; a tiny model's weights really do stay in
        // cache), so it adds nothing to the peak memory read below.
        long probeBytes = Math.Clamp(model.Weights.BytesReadPerToken, 1L << 20, 2L << 30);
        Floors before = MeasureFloors(model, probeBytes, clock);

        // Decode: one token at a time after the warm-up, median over runs.
        var work = new Workloads(model, decodeTokens, prefillTokens, batch);
        WarmUp(work.DecodeOne);
        List<double> decodeRates = TimeRuns("decode", decodeTokens, work.Decode);

        // Prefill: the whole prompt at once from the zero state.
        WarmUp(work.Prefill);
        List<double> prefillRates = TimeRuns("prefill", work.Prompt.Length, work.Prefill, before: work.ResetPrefill);

        // Peak resident memory of one session's decode and prefill, read before the batch's extra sessions exist.
        long peakRss = Process.GetCurrentProcess().PeakWorkingSet64;

        // Batch decode: `batch` sessions stepped together.
        WarmUp(work.BatchStep);
        List<double> batchRates = TimeRuns($"batch of {batch}", work.BatchRunTokens, work.Batch);

        Floors floors = before.Best(MeasureFloors(model, probeBytes, clock));
        return new BenchResult(
            model.EngineName,
            model.Weights.MatrixType?.DisplayName() ?? "mixed",
            threads,
            HardwareProbe.VectorWidthName,
            s,
            CpuIdentity.Current.ToString(),
            model.Tuning,
            model.Weights.BytesReadPerToken,
            FlopsPerToken(s),
            floors.Bandwidth1,
            floors.BandwidthN,
            floors.Fma1,
            floors.FmaN,
            Median(decodeRates),
            Median(prefillRates),
            work.Prompt.Length,
            batch,
            Median(batchRates),
            peakRss,
            model.Weights.MatrixBytes,
            load,
            profiles,
            clock);
    }

    /// <summary>
    /// What <c>--ab</c> switches between A and B: one choice of the model's tuning, the rest kept (A the tuning in use,
    /// B the other value), so that every choice a <see cref="CpuTuningTable"/> entry makes can be measured with the
    /// shipped binary on the processor at hand: the prefetch hint (t0, nta), the split threshold, parts per thread, and
    /// the longest 4-bit prompt block on the integer products. In an A/B trial build only (<c>-p:RwkvExperiment=true</c>)
    /// also the runtime's internal <c>Experiment.Variant</c> (off, on), which code under trial reads.
    /// </summary>
    private sealed record AbSwitch(string A, string B, Action<bool> Set)
    {
#if RWKV7_EXPERIMENT
        /// <summary>The switch --ab flips when --ab-switch is not given.</summary>
        public const string Default = "variant";

        public const string Help = "the switch --ab flips: variant (the default; Experiment.Variant, read by the code under trial), " + Choices;
#else
        /// <summary>The switch --ab flips when --ab-switch is not given.</summary>
        public const string Default = "prefetch";

        public const string Help = "the switch --ab flips: " + Choices + " (a build with -p:RwkvExperiment=true adds variant, for trying an engine change)";
#endif

        private const string Choices = "prefetch (t0 against nta; the default), split=MICROSECONDS (the tuning's split threshold against this one), "
            + "parts=N (parts per thread: the tuning's against N), prompts=N (4-bit prompt blocks of up to N rows on the integer products: the tuning's against N, 0-64)";

        /// <summary>The switch's name and value (<c>split=8</c>: split, 8), checked before the model loads.</summary>
        /// <exception cref="UsageException">Not a switch this build has, or a value where none belongs (or none where one does).</exception>
        public static (string Name, string? Value) Parse(string text)
        {
            int equals = text.IndexOf('=', StringComparison.Ordinal);
            string name = equals < 0 ? text : text[..equals];
            string? value = equals < 0 ? null : text[(equals + 1)..];
            bool valued = name is "split" or "parts" or "prompts";
            if (!(valued || name == "prefetch" || (Default == "variant" && name == "variant")) || valued != (value is not null))
            {
                throw new UsageException($"--ab-switch: expected prefetch, split=MICROSECONDS, parts=N or prompts=N{(Default == "variant" ? " or variant" : "")}; got '{text}'");
            }

            return (name, value);
        }

        public static AbSwitch For(string text, RwkvModel model)
        {
            (string name, string? value) = Parse(text);
#if RWKV7_EXPERIMENT
            if (name == "variant")
            {
                return new AbSwitch("Experiment.Variant off", "on", v => Rwkv7.Gen.Benchmarking.Experiment.Variant = v);
            }
#endif

            CpuTuning tuning = model.Tuning ?? throw new UsageException($"--ab-switch {name} needs a generated engine; {model.EngineName} has no tuning");
            CultureInfo c = CultureInfo.InvariantCulture;
            switch (name)
            {
                case "prefetch":
                    return new AbSwitch(
                        "prefetch t0", "prefetch nta",
                        v => model.Tuning = tuning with { WeightPrefetch = v ? PrefetchHint.NonTemporal : PrefetchHint.Temporal });
                case "split":
                {
                    double us = Number(text, value!, 0, 1e6);
                    return new AbSwitch(
                        string.Format(c, "split steps of ≥ {0:0.#} µs", tuning.MinParallelMicroseconds), string.Format(c, "≥ {0:0.#} µs", us),
                        v => model.Tuning = v ? tuning with { MinParallelMicroseconds = us } : tuning);
                }

                case "parts":
                {
                    int parts = (int)Number(text, value!, 1, 16, whole: true);
                    return new AbSwitch(
                        $"{tuning.PartsPerThread} parts per thread", $"{parts}",
                        v => model.Tuning = v ? tuning with { PartsPerThread = parts } : tuning);
                }

                default:
                {
                    int rows = (int)Number(text, value!, 0, 64, whole: true);
                    return new AbSwitch(
                        $"4-bit prompts of ≤ {tuning.Int16SequenceTokens512}/{tuning.Int16SequenceTokens256} rows (512/256-bit) on integer products", $"≤ {rows} rows",
                        v => model.Tuning = v ? tuning with { Int16SequenceTokens512 = rows, Int16SequenceTokens256 = rows } : tuning);
                }
            }
        }

        private static double Number(string text, string value, double min, double max, bool whole = false)
        {
            if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) || !(number >= min && number <= max)
                || (whole && number != Math.Floor(number)))
            {
                throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--ab-switch {text}: the value must be a {(whole ? "whole " : "")}number in [{min}, {max}]"));
            }

            return number;
        }
    }

    /// <summary>
    /// <c>--ab</c>: for decode, prefill and a batch, <paramref name="pairs"/> pairs of timed runs, one with the switch
    /// off (A) and one with it on (B), in ABBA order; prints each phase's median tokens/s under A and B, the median of
    /// the per-pair ratios B/A and how many pairs B won. A binary whose code does not read the switch gives ratios of
    /// 0.99–1.02 and about half the pairs on this machine: below ±3%, or with few more than half the pairs won, a
    /// difference is noise.
    /// </summary>
    private static void MeasureAb(RwkvModel model, int decodeTokens, int prefillTokens, int batch, int pairs, AbSwitch change, TextWriter o)
    {
        CpuTuning? original = model.Tuning;
        ModelShape s = model.Shape;
        var work = new Workloads(model, decodeTokens, prefillTokens, batch);
        (string Name, long Tokens, Action Run)[] phases =
        [
            ("decode", decodeTokens, work.Decode),
            ("prefill", work.Prompt.Length, () =>
            {
                work.ResetPrefill();
                work.Prefill();
            }),
            ($"batch of {batch}", work.BatchRunTokens, work.Batch),
        ];

        CultureInfo c = CultureInfo.InvariantCulture;
        o.WriteLine($"{model.EngineName}, {s}, {model.Weights.MatrixType?.DisplayName() ?? "mixed"} weights, {model.Threads} thread(s): A/B over {pairs} pairs (A: {change.A}, B: {change.B})");
        o.WriteLine($"cpu: {CpuIdentity.Current}");
        try
        {
            foreach ((string name, long tokens, Action run) in phases)
            {
                foreach (bool variant in new[] { false, true })
                {
                    change.Set(variant);
                    WarmUp(run);
                }

                var a = new List<double>(pairs);
                var b = new List<double>(pairs);
                var ratios = new List<double>(pairs);
                int won = 0;
                for (int pair = 0; pair < pairs; pair++)
                {
                    double rateA = 0, rateB = 0;
                    for (int half = 0; half < 2; half++)
                    {
                        bool variant = (pair + half) % 2 == 1; // ABBA: A, B, then B, A, ...
                        change.Set(variant);
                        long start = Stopwatch.GetTimestamp();
                        run();
                        double rate = tokens / Stopwatch.GetElapsedTime(start).TotalSeconds;
                        if (variant)
                        {
                            rateB = rate;
                        }
                        else
                        {
                            rateA = rate;
                        }
                    }

                    a.Add(rateA);
                    b.Add(rateB);
                    ratios.Add(rateB / rateA);
                    won += rateB > rateA ? 1 : 0;
                }

                o.WriteLine(string.Format(
                    c, "{0,-12} A {1:0.0} tokens/s, B {2:0.0} tokens/s (medians); B/A {3:0.000} (median of pairs), B won {4} of {5} pairs",
                    name, Median(a), Median(b), Median(ratios), won, pairs));
            }
        }
        finally
        {
#if RWKV7_EXPERIMENT
            Rwkv7.Gen.Benchmarking.Experiment.Variant = false;
#endif
            if (original is not null)
            {
                model.Tuning = original;
            }
        }
    }

    /// <summary>
    /// The timed work of <c>bench</c> and <c>bench --ab</c>, so that both time the same phases: decode one token at a
    /// time after an 8-token prompt; prefill the whole prompt from the zero state; step <c>batch</c> sessions together
    /// (their states are made at the first batch step, after the one-session peak memory is read).
    /// </summary>
    private sealed class Workloads
    {
        private readonly RwkvModel _model;
        private readonly int _decodeTokens;
        private readonly int _batch;
        private readonly float[] _logits;
        private readonly RwkvState _state;
        private readonly RwkvState _fresh;
        private int _token;
        private RwkvState[]? _states;
        private int[] _batchTokens = [];
        private float[] _batchLogits = [];

        public Workloads(RwkvModel model, int decodeTokens, int prefillTokens, int batch)
        {
            _model = model;
            _decodeTokens = decodeTokens;
            _batch = batch;
            ModelShape s = model.Shape;
            var rng = new Random(1234);
            Prompt = Enumerable.Range(0, prefillTokens).Select(_ => rng.Next(s.Vocab)).ToArray();
            _logits = new float[s.Vocab];
            _state = model.CreateState();
            model.Forward(Prompt.AsSpan(0, Math.Min(8, Prompt.Length)), _state, _logits);
            _token = Prompt[0];

            // One prefill state, zeroed before each run: a fresh 2.4 MiB state per run (0.1B) is garbage the GC keeps
            // for a while, and it showed up in the peak memory.
            _fresh = model.CreateState();
        }

        /// <summary>The prefill prompt (random tokens, the same on every run of the command).</summary>
        public int[] Prompt { get; }

        /// <summary>Tokens of one <see cref="Batch"/> run: a quarter of the decode tokens' steps, each of every session.</summary>
        public long BatchRunTokens => (long)BatchSteps * _batch;

        private int BatchSteps => Math.Max(1, _decodeTokens / 4);

        public void DecodeOne()
        {
            _model.Forward(_token, _state, _logits);
            _token = (_token * 31 + 7) % _model.Shape.Vocab;
        }

        /// <summary>One decode run: the decode tokens one at a time.</summary>
        public void Decode()
        {
            for (int i = 0; i < _decodeTokens; i++)
            {
                DecodeOne();
            }
        }

        /// <summary>Zeroes the prefill state (untimed in <c>bench</c>).</summary>
        public void ResetPrefill() => _fresh.Reset();

        public void Prefill() => _model.Forward(Prompt, _fresh, _logits);

        public void BatchStep()
        {
            if (_states is null)
            {
                _states = Enumerable.Range(0, _batch).Select(_ => _model.CreateState()).ToArray();
                _batchTokens = Enumerable.Range(0, _batch).Select(i => Prompt[i % Prompt.Length]).ToArray();
                _batchLogits = new float[_batch * _model.Shape.Vocab];
            }

            _model.ForwardBatch(_batchTokens, _states, _batchLogits);
        }

        /// <summary>One batch run: <see cref="BatchRunTokens"/> tokens.</summary>
        public void Batch()
        {
            for (int i = 0; i < BatchSteps; i++)
            {
                BatchStep();
            }
        }
    }

    /// <summary>
    /// Streaming read bandwidth over <paramref name="probeBytes"/> of the model's weights and FMA throughput, on one
    /// thread and on the model's threads.
    /// </summary>
    private static Floors MeasureFloors(RwkvModel model, long probeBytes, ProbeClock clock)
    {
        int threads = model.Threads;
        double bandwidth1 = HardwareProbe.MeasureReadBandwidth(1, model.Weights, probeBytes, clock);
        double fma1 = HardwareProbe.MeasureFmaThroughput(1, clock);
        return new Floors(
            bandwidth1,
            threads > 1 ? HardwareProbe.MeasureReadBandwidth(threads, model.Weights, probeBytes) : bandwidth1,
            fma1,
            threads > 1 ? HardwareProbe.MeasureFmaThroughput(threads) : fma1);
    }

    /// <summary>The hardware floors of one measurement: bytes/s and FLOP/s, on one thread and on N.</summary>
    private readonly record struct Floors(double Bandwidth1, double BandwidthN, double Fma1, double FmaN)
    {
        /// <summary>The better figure of each floor: the more demanding one.</summary>
        public Floors Best(Floors other) => new(
            Math.Max(Bandwidth1, other.Bandwidth1), Math.Max(BandwidthN, other.BandwidthN), Math.Max(Fma1, other.Fma1), Math.Max(FmaN, other.FmaN));
    }

    /// <summary>
    /// Runs <paramref name="step"/> for at least half a second and at least 4 times before timing starts: a JIT build
    /// runs the orchestrating code unoptimized (tier 0) for its first ~100 ms of calls, which a tiny model's decode would
    /// otherwise spend its whole measurement in (2.5k instead of 11k tokens/s), and the AOT build has nothing to warm.
    /// </summary>
    private static void WarmUp(Action step)
    {
        long start = Stopwatch.GetTimestamp();
        for (int calls = 0; calls < 4 || Stopwatch.GetElapsedTime(start).TotalMilliseconds < 500; calls++)
        {
            step();
        }
    }

    /// <summary>FLOPs per prefilled token: two per weight of every layer matrix, plus the WKV update (about 7 per state element).</summary>
    private static double FlopsPerToken(ModelShape s)
    {
        double perLayer = 2.0 * ((4.0 * s.Embedding * s.Embedding) + (2.0 * s.Embedding * s.Ffn)
            + (2.0 * s.Embedding * (s.DecayRank + s.IclrRank + s.ValueRank + s.GateRank)))
            + (7.0 * s.Heads * s.HeadSize * s.HeadSize);
        return perLayer * s.Layers;
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    private static void WriteTable(BenchResult r, TextWriter o)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        o.WriteLine($"engine       {r.Engine}");
        o.WriteLine($"shape        {r.Shape}");
        o.WriteLine($"precision    {r.Precision} weights; {r.Threads} thread(s); {r.Vectors}{(r.Clock == ProbeClock.ThreadCpu ? "; timed by the thread's CPU time (--clock cpu)" : "")}");
        o.WriteLine($"cpu          {r.Cpu}");
        if (r.Tuning is { } tuning)
        {
            o.WriteLine($"tuning       {tuning.Describe()} ({tuning.Source})");
        }

        o.WriteLine(string.Format(c, "load         {0:0.00} s ({1})", r.Load.Elapsed.TotalSeconds, r.Load.Synthetic ? "synthetic weights made and packed" : "checkpoint read and packed"));
        o.WriteLine(string.Format(c, "weights/tok  {0:0.0} MiB read per decoded token", r.WeightBytesPerToken / 1048576.0));
        o.WriteLine(string.Format(c, "bandwidth    {0:0.0} GB/s (1 thread), {1:0.0} GB/s ({2} threads)", r.Bandwidth1 / 1e9, r.BandwidthN / 1e9, r.Threads));
        o.WriteLine(string.Format(c, "fma peak     {0:0.0} GFLOP/s (1 thread), {1:0.0} GFLOP/s ({2} threads)", r.Fma1 / 1e9, r.FmaN / 1e9, r.Threads));
        o.WriteLine(string.Format(c, "decode       {0:0.0} tokens/s, {1:0.00} ms/token = {2:0.0}% of the bandwidth floor ({3:0.0} tokens/s)", r.DecodeTokensPerSecond, 1000 / r.DecodeTokensPerSecond, 100 * r.DecodeTokensPerSecond / r.BandwidthFloor, r.BandwidthFloor));
        o.WriteLine(string.Format(c, "prefill      {0:0.0} tokens/s over {1} tokens = {2:0.0}% of the arithmetic floor ({3:0.0} tokens/s)", r.PrefillTokensPerSecond, r.PrefillTokens, 100 * r.PrefillTokensPerSecond / r.ComputeFloor, r.ComputeFloor));
        o.WriteLine(string.Format(c, "batch        {0:0.0} tokens/s for {1} sessions = {2:0.00}x one session", r.BatchTokensPerSecond, r.BatchSize, r.BatchTokensPerSecond / r.DecodeTokensPerSecond));
        o.WriteLine(string.Format(c, "peak memory  {0:0.0} MiB resident ({1:0.0} MiB of packed weights)", r.PeakRssBytes / 1048576.0, r.WeightBytes / 1048576.0));
    }

    private static string StepName(ModelStep step) => step switch
    {
        ModelStep.LayerNorm => "layer norm",
        ModelStep.TimeMixInputs => "time-mix inputs",
        ModelStep.ChannelMixInputs => "channel-mix inputs",
        ModelStep.Heads => "heads (WKV)",
        ModelStep.Projections => "projections",
        ModelStep.Output => "output",
        ModelStep.FfnKey => "FFN key",
        ModelStep.FfnValue => "FFN value",
        ModelStep.Head => "head (logits)",
        ModelStep.InputRounding => "inputs to 16/8 bits",
        _ => step.ToString(),
    };

    /// <summary>
    /// One phase's step timings: time per token and share of the phase for every step that ran, the weight bytes a
    /// matrix step read per second of its time, and what the steps do not cover (embedding, final LayerNorm, the loop).
    /// </summary>
    private static void WriteProfile(PhaseProfile p, int threads, TextWriter o)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        o.WriteLine(string.Format(c, "profile      {0}, {1} thread(s): {2:0.000} ms/token", p.Phase, threads, p.MsPerToken(p.Elapsed)));
        TimeSpan steps = TimeSpan.Zero;
        foreach (StepTiming t in p.Steps.Where(t => t.Calls > 0))
        {
            steps += t.Elapsed;
            string rate = t.WeightBytes > 0 ? string.Format(c, "{0,7:0.0} GB/s of weights", t.WeightBytesPerSecond / 1e9) : "";
            o.WriteLine(string.Format(c, "  {0,-20}{1,9:0.0000} ms/token {2,6:0.0}%  {3}", StepName(t.Step), p.MsPerToken(t.Elapsed), 100 * t.Elapsed / p.Elapsed, rate).TrimEnd());
        }

        TimeSpan other = p.Elapsed - steps;
        o.WriteLine(string.Format(c, "  {0,-20}{1,9:0.0000} ms/token {2,6:0.0}%", "outside steps", p.MsPerToken(other), 100 * other / p.Elapsed));
    }

    private static void WriteJson(BenchResult r, TextWriter o)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("engine", r.Engine);
            w.WriteString("shape", r.Shape.ToString());
            w.WriteString("precision", r.Precision);
            w.WriteNumber("threads", r.Threads);
            w.WriteString("clock", r.Clock == ProbeClock.ThreadCpu ? "cpu" : "wall");
            w.WriteString("vector_width", r.Vectors);
            w.WriteString("cpu", r.Cpu);
            if (r.Tuning is { } tuning)
            {
                w.WriteString("tuning", tuning.Describe());
                w.WriteString("tuning_source", tuning.Source.ToString());
                w.WriteString("tuning_origin", tuning.Origin);
            }

            w.WriteNumber("weight_bytes_per_token", r.WeightBytesPerToken);
            w.WriteNumber("flops_per_token", r.FlopsPerToken);
            w.WriteNumber("read_bandwidth_1_thread_bytes_per_s", r.Bandwidth1);
            w.WriteNumber("read_bandwidth_bytes_per_s", r.BandwidthN);
            w.WriteNumber("fma_flops_per_s_1_thread", r.Fma1);
            w.WriteNumber("fma_flops_per_s", r.FmaN);
            w.WriteNumber("decode_tokens_per_s", r.DecodeTokensPerSecond);
            w.WriteNumber("bandwidth_floor_tokens_per_s", r.BandwidthFloor);
            w.WriteNumber("decode_percent_of_bandwidth_floor", 100 * r.DecodeTokensPerSecond / r.BandwidthFloor);
            w.WriteNumber("prefill_tokens", r.PrefillTokens);
            w.WriteNumber("prefill_tokens_per_s", r.PrefillTokensPerSecond);
            w.WriteNumber("compute_floor_tokens_per_s", r.ComputeFloor);
            w.WriteNumber("prefill_percent_of_compute_floor", 100 * r.PrefillTokensPerSecond / r.ComputeFloor);
            w.WriteNumber("batch_size", r.BatchSize);
            w.WriteNumber("batch_tokens_per_s", r.BatchTokensPerSecond);
            w.WriteNumber("peak_rss_bytes", r.PeakRssBytes);
            w.WriteNumber("weight_bytes", r.WeightBytes);
            w.WriteNumber("load_seconds", r.Load.Elapsed.TotalSeconds);
            w.WriteBoolean("load_synthetic", r.Load.Synthetic);
            if (r.Profiles.Count > 0)
            {
                w.WriteStartObject("profile");
                foreach (PhaseProfile p in r.Profiles)
                {
                    w.WriteStartObject(p.Phase.Split(' ')[0]);
                    w.WriteNumber("ms_per_token", p.MsPerToken(p.Elapsed));
                    w.WriteStartArray("steps");
                    foreach (StepTiming t in p.Steps.Where(t => t.Calls > 0))
                    {
                        w.WriteStartObject();
                        w.WriteString("step", StepName(t.Step));
                        w.WriteNumber("ms_per_token", p.MsPerToken(t.Elapsed));
                        w.WriteNumber("calls_per_token", (double)t.Calls / p.Tokens);
                        w.WriteNumber("weight_bytes_per_s", t.WeightBytesPerSecond);
                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        o.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}
