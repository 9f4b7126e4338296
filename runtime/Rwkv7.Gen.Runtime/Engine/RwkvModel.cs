using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen;

/// <summary>Which engine <see cref="RwkvModel.Create"/> and <see cref="RwkvModel.Load"/> choose.</summary>
public enum EngineSelection
{
    /// <summary>A generated model whose layer widths match the weights if one is registered, else the reference engine.</summary>
    Auto,

    /// <summary>Always the reference engine (plain C#, any shape).</summary>
    Reference,

    /// <summary>A generated model; fails if none is registered for the weights' layer widths.</summary>
    Generated,
}

/// <summary>Options for <see cref="RwkvModel.Load"/>.</summary>
public sealed class RwkvModelOptions
{
    /// <summary>Engine choice (default <see cref="EngineSelection.Auto"/>).</summary>
    public EngineSelection Engine { get; init; } = EngineSelection.Auto;

    /// <summary>How weights are packed.</summary>
    public WeightLoadOptions? Weights { get; init; }
}

/// <summary>
/// An RWKV-7 model ready to run: packed weights plus an engine. Every engine computes the same function: feed
/// tokens into a <see cref="RwkvState"/> and read the logits of the next token.
/// </summary>
/// <remarks>
/// A model is safe to use from several threads at once as long as each thread uses its own state. Token ids must
/// lie in [0, V).
/// </remarks>
public abstract class RwkvModel : IDisposable
{
    private readonly bool _ownsWeights;

    /// <summary>Binds an engine to weights.</summary>
    /// <param name="weights">The packed weights.</param>
    /// <param name="ownsWeights">Whether disposing the model disposes the weights.</param>
    protected RwkvModel(RwkvWeights weights, bool ownsWeights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        Weights = weights;
        _ownsWeights = ownsWeights;
    }

    /// <summary>The packed weights.</summary>
    public RwkvWeights Weights { get; }

    /// <summary>The model's shape.</summary>
    public ModelShape Shape => Weights.Shape;

    /// <summary>Which engine runs: <c>reference</c>, or <c>generated</c> followed by the generated type's name.</summary>
    public abstract string EngineName { get; }

    /// <summary>
    /// When set, the generated engine adds the time of each step of its forward passes here (see
    /// <see cref="Benchmarking.StepTimings"/>); the reference engine records nothing. Null (the default) costs nothing.
    /// </summary>
    public Benchmarking.StepTimings? StepTimings { get; set; }

    /// <summary>
    /// Threads the engine may use for one call (at least 1). Engines split large matrix products across a persistent
    /// worker pool and fall back to one thread when a product is too small to gain from it. The reference engine
    /// always runs on the calling thread and reports 1.
    /// </summary>
    public virtual int Threads
    {
        get => 1;
        set => ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
    }

    /// <summary>
    /// What the engine chose for this processor (<see cref="CpuTuning"/>): how kernels prefetch weights and when steps
    /// are split across threads. Generated engines start with their processor's table entry, a calibration on this
    /// model's weights for a processor the table does not know (once per process), or what <c>RWKV7_PREFETCH</c> says;
    /// the reference engine has no tuning and reports null. Setting it changes speed, never results; set it between
    /// calls, not while one runs.
    /// </summary>
    /// <exception cref="NotSupportedException">Set on the reference engine.</exception>
    public virtual CpuTuning? Tuning
    {
        get => null;
        set => throw new NotSupportedException($"The {EngineName} engine has no processor tuning.");
    }

    /// <summary>
    /// Whether every row of <see cref="ForwardBatch"/> gets exactly the logits and state that <see cref="Forward(int, RwkvState, Span{float})"/> gives
    /// that session's token alone, bit for bit, whatever the batch's size and its other rows. A server that batches
    /// requests needs no padding to keep a request's text independent of the others when this holds.
    /// </summary>
    /// <remarks>
    /// True for the reference engine (it steps each session in turn) and for a generated engine whose matrices are
    /// 4-bit: a batch rounds each row's inputs to 16 bits and sums it as a one-token step does, LoRA MLPs included.
    /// False for other generated engines, whose several-token tiles add in another order than the one-token ones and,
    /// for 8-bit weights, keep fp32 inputs: their rows agree with <see cref="Forward(int, RwkvState, Span{float})"/> to rounding only.
    /// </remarks>
    public virtual bool BatchRowsMatchForward => false;

    /// <summary>
    /// Seconds one thread takes to run one-token products over <paramref name="work"/> with the kernels instantiated for
    /// <paramref name="hint"/>, or null for an engine without tuned kernels (<see cref="TuningCalibration"/>).
    /// </summary>
    internal virtual double? TimeWeightStream(PrefetchHint hint, CalibrationWork work) => null;

    /// <summary>
    /// One prompt calibration trial (<see cref="TuningCalibration.CalibratePrompts"/>): the work's 4-bit products for a
    /// block of <paramref name="tokens"/> rows on the integer path or the widened one, on the calling thread, in seconds;
    /// null where the engine has no tuned kernels.
    /// </summary>
    internal virtual double? TimePromptProducts(PromptWork work, int tokens, bool integer) => null;

    /// <summary>A new all-zero state for this model.</summary>
    public RwkvState CreateState() => new(Shape);

    /// <summary>Loads a checkpoint (any supported format) and binds the engine chosen by <paramref name="options"/>.</summary>
    public static RwkvModel Load(string path, RwkvModelOptions? options = null)
    {
        options ??= new RwkvModelOptions();
        RwkvWeights weights = RwkvWeights.Load(path, options.Weights);
        try
        {
            return Create(weights, options.Engine, ownsWeights: true);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>Binds an engine to already packed weights.</summary>
    /// <exception cref="RwkvException"><see cref="EngineSelection.Generated"/> was asked for and no generated model fits.</exception>
    public static RwkvModel Create(RwkvWeights weights, EngineSelection engine = EngineSelection.Auto, bool ownsWeights = false)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (engine != EngineSelection.Reference && GeneratedModelRegistry.FindFor(weights.Shape) is { } generated)
        {
            return generated.Create(weights, ownsWeights);
        }

        if (engine == EngineSelection.Generated)
        {
            throw new RwkvException(
                $"No generated model is registered for {weights.Shape}. Add a shape file with these layer widths to the project, or use the reference engine.");
        }

        return new ReferenceModel(weights, ownsWeights);
    }

    /// <summary>RNN mode: feeds one token, advances <paramref name="state"/>, writes the next-token logits.</summary>
    /// <param name="token">Token id in [0, V).</param>
    /// <param name="state">The sequence's state, updated in place.</param>
    /// <param name="logits">V floats, or empty to skip the output head.</param>
    public void Forward(int token, RwkvState state, Span<float> logits)
    {
        CheckState(state);
        CheckToken(token);
        CheckLogits(logits, 1);
        StepCore(token, state, logits);
    }

    /// <summary>
    /// Sequence mode (prefill): feeds all <paramref name="tokens"/> at once, advances <paramref name="state"/> past them
    /// and writes the logits after the last one. Gives the same result as feeding them one by one.
    /// </summary>
    /// <param name="tokens">Token ids in [0, V); may be empty (nothing changes).</param>
    /// <param name="state">The sequence's state, updated in place.</param>
    /// <param name="logits">V floats for the last token, or empty to skip the output head.</param>
    public void Forward(ReadOnlySpan<int> tokens, RwkvState state, Span<float> logits)
    {
        CheckState(state);
        CheckTokens(tokens);
        CheckLogits(logits, 1);
        if (!tokens.IsEmpty)
        {
            SequenceCore(tokens, state, logits, allRows: false);
        }
    }

    /// <summary>Sequence mode returning the logits after every token: <paramref name="logits"/> is [T][V], row-major.</summary>
    public void ForwardAll(ReadOnlySpan<int> tokens, RwkvState state, Span<float> logits)
    {
        CheckState(state);
        CheckTokens(tokens);
        if (logits.Length != tokens.Length * Shape.Vocab)
        {
            throw new ArgumentException($"Expected {tokens.Length}×{Shape.Vocab} logits, got a span of {logits.Length}.", nameof(logits));
        }

        if (!tokens.IsEmpty)
        {
            SequenceCore(tokens, state, logits, allRows: true);
        }
    }

    /// <summary>
    /// Batch decode: feeds token <c>tokens[b]</c> to session <c>states[b]</c> for every b, stepping all sessions
    /// together (weights are read once for the whole batch), and writes their logits as [B][V].
    /// </summary>
    /// <param name="tokens">One token id per session.</param>
    /// <param name="states">One distinct state per session, each updated in place.</param>
    /// <param name="logits">B×V floats, or empty to skip the output head.</param>
    public void ForwardBatch(ReadOnlySpan<int> tokens, IReadOnlyList<RwkvState> states, Span<float> logits)
    {
        ArgumentNullException.ThrowIfNull(states);
        if (states.Count != tokens.Length)
        {
            throw new ArgumentException($"{tokens.Length} tokens for {states.Count} states: give one token per state.", nameof(states));
        }

        var distinct = new HashSet<RwkvState>(ReferenceEqualityComparer.Instance);
        foreach (RwkvState s in states)
        {
            CheckState(s);
            if (!distinct.Add(s))
            {
                throw new ArgumentException("The same state appears twice in a batch.", nameof(states));
            }
        }

        CheckTokens(tokens);
        CheckLogits(logits, tokens.Length);
        if (!tokens.IsEmpty)
        {
            BatchCore(tokens, states, logits);
        }
    }

    /// <summary>Batch decode with validated arguments; the default steps each session in turn.</summary>
    protected virtual void BatchCore(ReadOnlySpan<int> tokens, IReadOnlyList<RwkvState> states, Span<float> logits)
    {
        int v = Shape.Vocab;
        for (int b = 0; b < tokens.Length; b++)
        {
            StepCore(tokens[b], states[b], logits.IsEmpty ? logits : logits.Slice(b * v, v));
        }
    }

    /// <summary>One token; arguments are validated.</summary>
    protected abstract void StepCore(int token, RwkvState state, Span<float> logits);

    /// <summary>A non-empty sequence; logits hold one row (or none) when <paramref name="allRows"/> is false, T rows otherwise.</summary>
    protected abstract void SequenceCore(ReadOnlySpan<int> tokens, RwkvState state, Span<float> logits, bool allRows);

    /// <summary>Releases the weights when the model owns them.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing && _ownsWeights)
        {
            Weights.Dispose();
        }
    }

    private void CheckState(RwkvState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.IsCompatible(Shape))
        {
            throw new ArgumentException($"State of shape {state.Shape} does not fit model {Shape}.", nameof(state));
        }
    }

    private void CheckToken(int token)
    {
        if ((uint)token >= (uint)Shape.Vocab)
        {
            throw new ArgumentOutOfRangeException(nameof(token), token, $"Token ids must lie in [0, {Shape.Vocab}).");
        }
    }

    private void CheckTokens(ReadOnlySpan<int> tokens)
    {
        foreach (int t in tokens)
        {
            CheckToken(t);
        }
    }

    private void CheckLogits(Span<float> logits, int rows)
    {
        if (!logits.IsEmpty && logits.Length != rows * Shape.Vocab)
        {
            throw new ArgumentException($"Expected {rows * Shape.Vocab} logits (or an empty span), got {logits.Length}.", nameof(logits));
        }
    }
}
