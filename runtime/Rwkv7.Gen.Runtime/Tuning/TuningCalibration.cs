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
    public double Median
    {
        get
        {
            double[] sorted = [.. GigabytesPerSecond];
            Array.Sort(sorted);
            int n = sorted.Length;
            return n == 0 ? 0 : n % 2 == 1 ? sorted[n / 2] : (sorted[(n / 2) - 1] + sorted[n / 2]) / 2;
        }
    }
}

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

    private static readonly PrefetchHint[] Hints = [PrefetchHint.Temporal, PrefetchHint.NonTemporal];

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
    /// The tuning a new generated engine starts with: the one this process settled on, or else its processor's
    /// (<see cref="CpuTuning.ForThisProcessor"/>), calibrated on <paramref name="model"/> when the processor wants it.
    /// </summary>
    internal static CpuTuning ForNewEngine(RwkvModel model)
    {
        if (ProcessTuning is { } settled)
        {
            return settled;
        }

        CpuTuning tuning = CpuTuning.ForThisProcessor();
        if (tuning.WantsCalibration)
        {
            tuning = Run(model, tuning).Chosen;
        }

        return Interlocked.CompareExchange(ref s_processTuning, tuning, null) ?? tuning;
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
