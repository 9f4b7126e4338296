using System.Diagnostics;
using System.Globalization;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Specialized;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen;

/// <summary>One candidate of a calibration and what it measured.</summary>
/// <param name="Hint">The prefetch hint the kernels were instantiated with.</param>
/// <param name="GigabytesPerSecond">Weight bytes streamed per second (10⁹), one per round, in the order measured.</param>
public sealed record CalibrationCandidate(PrefetchHint Hint, IReadOnlyList<double> GigabytesPerSecond)
{
    /// <summary>The median of <see cref="GigabytesPerSecond"/>.</summary>
    public double Median => TuningCalibration.Median(GigabytesPerSecond);
}

/// <summary>
/// A prompt calibration's trials at one length of a prompt block: the time of the same 4-bit products on the integer
/// path (inputs rounded to 8 bits, every row summed as a one-token step sums it) and on the widened path (rows widened to
/// fp32, then the generated fp32 tiles), one pair per round.
/// </summary>
/// <param name="Tokens">Rows of the prompt block timed.</param>
/// <param name="IntegerMilliseconds">The integer path's time per trial, one per round.</param>
/// <param name="WidenedMilliseconds">The widened path's time per trial, one per round.</param>
public sealed record PromptTrial(int Tokens, IReadOnlyList<double> IntegerMilliseconds, IReadOnlyList<double> WidenedMilliseconds)
{
    /// <summary>The median of <see cref="IntegerMilliseconds"/>.</summary>
    public double IntegerMedian => TuningCalibration.Median(IntegerMilliseconds);

    /// <summary>The median of <see cref="WidenedMilliseconds"/>.</summary>
    public double WidenedMedian => TuningCalibration.Median(WidenedMilliseconds);

    /// <summary>How many times faster the integer path ran (over 1: faster), by the medians.</summary>
    public double IntegerSpeedup => WidenedMedian / IntegerMedian;
}

/// <summary>What a prompt calibration measured and the crossover it chose.</summary>
/// <param name="VectorBits">The width of the 4-bit products timed (512 or 256): the threshold set is that width's.</param>
/// <param name="Trials">The lengths timed, longest first, up to the first the integer path won.</param>
/// <param name="Tokens">The chosen threshold: prompt blocks of up to this many rows take the integer path (0: none).</param>
/// <param name="Chosen">The tuning with that threshold.</param>
/// <param name="Weights">4-bit weights one trial multiplies, by every row of the block.</param>
/// <param name="Elapsed">How long the calibration took, warm-up included.</param>
public sealed record PromptCalibrationReport(int VectorBits, IReadOnlyList<PromptTrial> Trials, int Tokens, CpuTuning Chosen, long Weights, TimeSpan Elapsed);

/// <summary>What a calibration measured and the tuning it chose.</summary>
/// <param name="Candidates">Each candidate's speeds.</param>
/// <param name="Chosen">The tuning with the fastest candidate's choices.</param>
/// <param name="BytesPerTrial">Weight bytes one timed trial streams.</param>
/// <param name="Matrices">Matrices in a trial's set.</param>
/// <param name="Elapsed">How long the calibration took, warm-up included.</param>
public sealed record CalibrationReport(IReadOnlyList<CalibrationCandidate> Candidates, CpuTuning Chosen, long BytesPerTrial, int Matrices, TimeSpan Elapsed);

/// <summary>The matrices and buffers of a calibration's trials (see <see cref="TuningCalibration"/>).</summary>
internal sealed class CalibrationWork
{
    public CalibrationWork(IReadOnlyList<WeightMatrix> matrices, int passes)
    {
        Matrices = matrices;
        Passes = passes;
        int cols = 1, rows = 1;
        foreach (WeightMatrix m in matrices)
        {
            cols = Math.Max(cols, m.Cols);
            rows = Math.Max(rows, m.Rows);
        }

        // Inputs of a plausible size (activations after LayerNorm): a zero input would time the same, but keep
        // subnormals and special values out of the picture.
        Input = new float[cols];
        for (int i = 0; i < cols; i++)
        {
            Input[i] = ((i % 7) - 3) * 0.25f;
        }

        // The matrices' widths are whole blocks (the loader checks 8- and 4-bit ones). Arranged for 4-bit products, the
        // rounded input serves 8-bit ones too: they read its values and scales.
        Int16Input = new Int16Input(cols);
        Int16Input.Round(Input.AsSpan(0, cols / Q8Block.Size * Q8Block.Size), arrange: true);
        Output = new float[rows];
    }

    /// <summary>The matrices a trial runs one-token products over, in order.</summary>
    public IReadOnlyList<WeightMatrix> Matrices { get; }

    /// <summary>How many times a trial runs over <see cref="Matrices"/>.</summary>
    public int Passes { get; }

    public float[] Input { get; }

    /// <summary><see cref="Input"/> rounded to 16 bits and arranged, for 8- and 4-bit products.</summary>
    public Int16Input Int16Input { get; }

    public float[] Output { get; }

    /// <summary>Weight bytes one trial streams.</summary>
    public long Bytes
    {
        get
        {
            long bytes = 0;
            foreach (WeightMatrix m in Matrices)
            {
                bytes += m.ByteLength;
            }

            return bytes * Passes;
        }
    }
}

/// <summary>
/// The matrices and buffers of a prompt calibration's trials (see <see cref="TuningCalibration.CalibratePrompts"/>):
/// the first 4-bit layer's FFN key and value matrices (rows of the embedding's width and of the FFN's), each cut to
/// at most <see cref="TuningCalibration.PromptTrialWeights"/> weights, and a block of inputs for each.
/// </summary>
internal sealed class PromptWork
{
    public PromptWork(WeightMatrix key, WeightMatrix value)
    {
        Matrices = [key, value];
        Rows = new int[2];
        Inputs = new float[2][];
        Int16Inputs = new Int16Input[2];
        int rows = 0;
        for (int i = 0; i < 2; i++)
        {
            WeightMatrix m = Matrices[i];
            Rows[i] = Math.Min(m.Rows, Math.Max(16, (int)(TuningCalibration.PromptTrialWeights / m.Cols) / 16 * 16));
            rows = Math.Max(rows, Rows[i]);
            Weights += (long)Rows[i] * m.Cols;

            // Activations of a plausible size that differ from token to token, with no subnormals or special values (as
            // CalibrationWork's): the kernels' speed does not depend on the values, but the rounding's scales should be normal.
            Inputs[i] = new float[MaxTokens * m.Cols];
            for (int j = 0; j < Inputs[i].Length; j++)
            {
                Inputs[i][j] = (((j * 7) % 13) - 6) * 0.125f;
            }

            Int16Inputs[i] = new Int16Input(m.Cols, MaxTokens, MaxTokens);
        }

        Output = new float[MaxTokens * rows];
    }

    /// <summary>The most rows of a prompt block (the forward pass's block).</summary>
    public static int MaxTokens => 64;

    /// <summary>The 4-bit matrices a trial multiplies, each over its first <see cref="Rows"/>.</summary>
    public WeightMatrix[] Matrices { get; }

    /// <summary>Rows of each matrix a trial computes.</summary>
    public int[] Rows { get; }

    /// <summary>A block of fp32 inputs per matrix (<see cref="MaxTokens"/> rows).</summary>
    public float[][] Inputs { get; }

    /// <summary>Where the integer path rounds each matrix's inputs.</summary>
    public Int16Input[] Int16Inputs { get; }

    public float[] Output { get; }

    /// <summary>Weights a trial multiplies by every row of its block.</summary>
    public long Weights { get; }
}

/// <summary>
/// Times the prefetch policies on a model's own packed weights and keeps the fastest: how a generated engine tunes
/// itself on an x86 processor that <see cref="CpuTuningTable"/> does not know. A trial runs one-token products (decode's
/// work) on one thread over the model's layer matrices in order, then its head, up to <see cref="TrialBytes"/>, as the
/// model streams them; a small model's set is run several times over. Trials alternate between the candidates, in
/// both orders, for up to <see cref="MaxRounds"/> rounds within <see cref="Budget"/>, and the best median wins. It
/// changes speed only: every policy computes the same values.
/// </summary>
public static class TuningCalibration
{
    /// <summary>Weight bytes a trial streams at most from a large model: more than the outer caches hold.</summary>
    public const long TrialBytes = 64L << 20;

    /// <summary>Weight bytes a trial streams at least (a small model's matrices are run several times over).</summary>
    public const long MinTrialBytes = 16L << 20;

    /// <summary>Rounds of trials at most (each round times every candidate once).</summary>
    public const int MaxRounds = 7;

    /// <summary>Rounds of trials at least, whatever the time.</summary>
    public const int MinRounds = 3;

    /// <summary>Time after which no new round starts (warm-up included).</summary>
    public static readonly TimeSpan Budget = TimeSpan.FromMilliseconds(400);

    /// <summary>Weights of each matrix a prompt trial multiplies, at most: 2 M a trial, 1–3 ms a row-block of 64 on one core.</summary>
    public const long PromptTrialWeights = 1L << 20;

    /// <summary>Time after which a prompt calibration starts no new round (warm-up included).</summary>
    public static readonly TimeSpan PromptBudget = TimeSpan.FromMilliseconds(300);

    private static readonly PrefetchHint[] Hints = [PrefetchHint.Temporal, PrefetchHint.NonTemporal];

    /// <summary>
    /// The prompt lengths a prompt calibration times, longest first: a block of a prompt has at most 64 rows, and a
    /// block of 2–4 rows costs little either way.
    /// </summary>
    private static readonly int[] PromptTokens = [64, 32, 16, 8, 4];

    private static CpuTuning? s_processTuning;

    /// <summary>
    /// The tuning generated engines start with in this process: set by the host (a saved tuning file, say) before the
    /// first engine starts, or else settled by the first engine: its processor's table entry or settings, or the result
    /// of the calibration it ran. Null until then. Setting it affects engines started afterwards; running ones keep
    /// theirs (<see cref="RwkvModel.Tuning"/> changes one).
    /// </summary>
    public static CpuTuning? ProcessTuning
    {
        get => Volatile.Read(ref s_processTuning);
        set => Volatile.Write(ref s_processTuning, value);
    }

    /// <summary>
    /// Times every candidate on <paramref name="model"/>'s weights and returns what it measured, with
    /// <paramref name="baseline"/>'s other choices kept in <see cref="CalibrationReport.Chosen"/>. Runs whatever the
    /// table says (for <c>rwkv7 tune</c>); engines call it only for processors the table does not know.
    /// </summary>
    /// <exception cref="NotSupportedException">The model runs on the reference engine, which has no tuned kernels.</exception>
    public static CalibrationReport Run(RwkvModel model, CpuTuning? baseline = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        baseline ??= CpuTuning.ForThisProcessor();
        long start = Stopwatch.GetTimestamp();
        CalibrationWork work = Plan(model.Weights);
        foreach (PrefetchHint hint in Hints)
        {
            // Warm-up: the kernels' first call compiles them, and the weights' pages come in.
            _ = model.TimeWeightStream(hint, work) ?? throw new NotSupportedException($"The {model.EngineName} engine has no tuned kernels to calibrate.");
        }

        var speeds = Hints.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < MaxRounds && (round < MinRounds || Stopwatch.GetElapsedTime(start) < Budget); round++)
        {
            for (int i = 0; i < Hints.Length; i++)
            {
                int c = round % 2 == 0 ? i : Hints.Length - 1 - i;
                double seconds = model.TimeWeightStream(Hints[c], work)!.Value;
                speeds[c].Add(work.Bytes / seconds / 1e9);
            }
        }

        var candidates = Hints.Select((h, i) => new CalibrationCandidate(h, speeds[i])).ToArray();
        CalibrationCandidate best = candidates.MaxBy(c => c.Median)!;
        CalibrationCandidate other = candidates.First(c => c != best);
        CpuTuning chosen = baseline with
        {
            WeightPrefetch = best.Hint,
            Source = TuningSource.Calibrated,
            Origin = string.Create(
                CultureInfo.InvariantCulture,
                $"calibrated on this model's weights: {CpuTuning.HintName(best.Hint)} {best.Median:0.0} GB/s against {CpuTuning.HintName(other.Hint)} {other.Median:0.0} (medians of {best.GigabytesPerSecond.Count}, one thread)"),
        };
        return new CalibrationReport(candidates, chosen, work.Bytes, work.Matrices.Count, Stopwatch.GetElapsedTime(start));
    }

    /// <summary>
    /// Times a prompt block's 4-bit products on <paramref name="model"/>'s weights on both paths, the integer products
    /// (8-bit inputs) and the rows widened into the fp32 tiles, at 64, 32, 16, 8 and 4 rows in turn until the integer
    /// path wins, and returns what it measured, with <paramref name="baseline"/>'s threshold for the vector width in use
    /// set to the longest length it won at (<see cref="CpuTuning.Int16SequenceTokens512"/> or
    /// <see cref="CpuTuning.Int16SequenceTokens256"/>; 0 when it won at none) and
    /// <see cref="CpuTuning.PromptPathMeasured"/> set. One thread; trials alternate between the paths, in both orders,
    /// at least <see cref="MinRounds"/> rounds a length and at most <see cref="MaxRounds"/>, within <see cref="PromptBudget"/>.
    /// Null when there is nothing to choose: the model has no 4-bit FFN matrices, its engine no tuned kernels, or this
    /// processor's vectors no integer 4-bit products (arm64, or x86 without AVX2).
    /// </summary>
    public static PromptCalibrationReport? CalibratePrompts(RwkvModel model, CpuTuning? baseline = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        int bits = Q4Kernels.StepBlocks * 128;
        LayerWeights? layer = model.Weights.Layers.FirstOrDefault(l => l.FfnKey.Type == TensorDType.Q4 && l.FfnValue.Type == TensorDType.Q4);
        if (bits == 0 || layer is null)
        {
            return null;
        }

        baseline ??= CpuTuning.ForThisProcessor();
        long start = Stopwatch.GetTimestamp();
        var work = new PromptWork(layer.FfnKey, layer.FfnValue);

        // Warm-up: both paths once, which compiles them and brings the rows in.
        if (model.TimePromptProducts(work, PromptWork.MaxTokens, integer: true) is null)
        {
            return null;
        }

        _ = model.TimePromptProducts(work, PromptWork.MaxTokens, integer: false);
        var trials = new List<PromptTrial>();
        int chosen = 0;
        foreach (int tokens in PromptTokens)
        {
            // Every trial multiplies a block of 64 rows' worth: shorter blocks are timed several times over.
            int repeats = PromptWork.MaxTokens / tokens;
            var integer = new List<double>();
            var widened = new List<double>();
            for (int round = 0; round < MaxRounds && (round < MinRounds || Stopwatch.GetElapsedTime(start) < PromptBudget); round++)
            {
                for (int i = 0; i < 2; i++)
                {
                    bool onInteger = (round % 2 == 0) == (i == 0);
                    double seconds = 0;
                    for (int r = 0; r < repeats; r++)
                    {
                        seconds += model.TimePromptProducts(work, tokens, onInteger)!.Value;
                    }

                    (onInteger ? integer : widened).Add(seconds * 1e3);
                }
            }

            var trial = new PromptTrial(tokens, integer, widened);
            trials.Add(trial);
            if (trial.IntegerSpeedup > 1)
            {
                chosen = tokens;
                break;
            }
        }

        string measured = string.Join(", ", trials.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Tokens} rows {t.IntegerSpeedup:0.00}×")));
        CpuTuning tuning = (bits == 512 ? baseline with { Int16SequenceTokens512 = chosen } : baseline with { Int16SequenceTokens256 = chosen }) with
        {
            PromptPathMeasured = true,
            Source = TuningSource.Calibrated,
            Origin = string.Create(
                CultureInfo.InvariantCulture,
                $"{baseline.Origin}; 4-bit prompts at {bits} bits calibrated on this model's weights: integer products over widened rows {measured} (medians, one thread), so blocks of up to {chosen} rows take them"),
        };
        return new PromptCalibrationReport(bits, trials, chosen, tuning, work.Weights, Stopwatch.GetElapsedTime(start));
    }

    /// <summary>
    /// The tuning a new generated engine starts with: the one this process settled on, or else its processor's
    /// (<see cref="CpuTuning.ForThisProcessor"/>), calibrated on <paramref name="model"/> when the processor wants it;
    /// then, when its 4-bit prompt path was never measured and <paramref name="model"/> has 4-bit matrices, with that
    /// calibrated too (<see cref="CalibratePrompts"/>; once a process: the result is what later engines start with).
    /// </summary>
    internal static CpuTuning ForNewEngine(RwkvModel model)
    {
        CpuTuning? settled = ProcessTuning;
        CpuTuning tuning = settled ?? CpuTuning.ForThisProcessor();
        if (settled is null && tuning.WantsCalibration)
        {
            tuning = Run(model, tuning).Chosen;
        }

        if (tuning.WantsPromptCalibration && CalibratePrompts(model, tuning) is { } prompts)
        {
            tuning = prompts.Chosen;
        }

        if (ReferenceEquals(tuning, settled))
        {
            return settled;
        }

        // The first engine settles the process's tuning; a later one replaces it only with what it calibrated on top.
        CpuTuning? previous = Interlocked.CompareExchange(ref s_processTuning, tuning, settled);
        return ReferenceEquals(previous, settled) ? tuning : previous!;
    }

    /// <summary>The median of <paramref name="values"/> (0 when empty).</summary>
    internal static double Median(IReadOnlyList<double> values)
    {
        double[] sorted = [.. values];
        Array.Sort(sorted);
        int n = sorted.Length;
        return n == 0 ? 0 : n % 2 == 1 ? sorted[n / 2] : (sorted[(n / 2) - 1] + sorted[n / 2]) / 2;
    }

    /// <summary>The matrices of a trial: layer by layer, then the head, up to <see cref="TrialBytes"/>.</summary>
    private static CalibrationWork Plan(RwkvWeights weights)
    {
        var matrices = new List<WeightMatrix>();
        long bytes = 0;
        void Add(WeightMatrix m)
        {
            if (!m.IsEmpty && bytes < TrialBytes)
            {
                matrices.Add(m);
                bytes += m.ByteLength;
            }
        }

        foreach (LayerWeights layer in weights.Layers)
        {
            Add(layer.Receptance);
            Add(layer.Key);
            Add(layer.Value);
            Add(layer.Output);
            Add(layer.FfnKey);
            Add(layer.FfnValue);
        }

        Add(weights.Head);
        int passes = (int)Math.Max(1, (MinTrialBytes + bytes - 1) / Math.Max(1, bytes));
        return new CalibrationWork(matrices, passes);
    }
}
