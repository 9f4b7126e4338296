using System.ComponentModel;
using System.Runtime.CompilerServices;
using Rwkv7.Gen.Benchmarking;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// The engine behind every generated model: an RWKV-7 forward pass, written once in the model's order, calling the
/// kernels that the source generator specialized for one set of layer widths (<typeparamref name="TKernels"/>). Depth
/// and vocabulary are loop bounds here, so one generated type runs any checkpoint with its layer widths.
/// </summary>
/// <remarks>
/// <para>
/// Work is done in blocks of up to <see cref="BlockTokens"/> rows. In sequence mode (prefill) the rows are
/// consecutive tokens of one sequence; in batch mode they are one token of each of several sessions. Either way
/// every layer handles all rows before the next layer starts, so each weight is read once per block.
/// </para>
/// <para>
/// A block is a sequence of steps (<see cref="ModelStep"/>), each run in parts on the persistent
/// <see cref="WorkerPool"/> by the <see cref="StepScheduler"/>, which splits a step only when its estimated time
/// repays it. Per layer: LayerNorm and the token shift (split by rows), (1) the receptance, key and value projections
/// with the four LoRA MLPs, the per-head work (value residual, WKV, GroupNorm; split by heads or sessions), (2) the
/// output projection, then LayerNorm and the token shift again, (3) the FFN key with ReLU², (4) the FFN value; the
/// output head last. The matrix steps are split by output rows. What each part computes is in
/// <see cref="ModelSteps{TKernels}"/>, which kernel computes a product in <see cref="Products{TKernels}"/>.
/// <see cref="RwkvModel.StepTimings"/> times every step.
/// </para>
/// <para>
/// What depends on the processor comes from <see cref="RwkvModel.Tuning"/> (<see cref="CpuTuning"/>): the scheduler's
/// cost model and parts per thread, and the prefetch policy the kernels are instantiated with, chosen once per tuning
/// as a function pointer to the step bodies instantiated for it, so that no kernel reads it.
/// </para>
/// </remarks>
/// <typeparam name="TKernels">The generated kernels.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract unsafe partial class SpecializedModel<TKernels> : RwkvModel
    where TKernels : struct, IRwkvKernels
{
    /// <summary>Rows processed together.</summary>
    public const int BlockTokens = 64;

    private const int HeadSize = ModelShape.SupportedHeadSize;

    private readonly string _engineName;
    private readonly WorkspacePool _workspaces;
    private readonly StepScheduler _scheduler;
    private delegate*<object, int, int, void> _runStep;

    /// <summary>Binds the generated kernels to weights whose layer widths they were written for.</summary>
    /// <param name="weights">Packed weights.</param>
    /// <param name="ownsWeights">Whether disposing the model disposes the weights.</param>
    /// <param name="typeName">Full name of the generated type, reported by <see cref="EngineName"/>.</param>
    /// <exception cref="RwkvException">The weights' layer widths differ from the kernels'.</exception>
    protected SpecializedModel(RwkvWeights weights, bool ownsWeights, string typeName)
        : base(weights, ownsWeights)
    {
        ModelShape s = weights.Shape;
        if (s.Embedding != TKernels.Embedding || s.Heads != TKernels.Heads || s.HeadSize != HeadSize || s.Ffn != TKernels.Ffn
            || s.DecayRank != TKernels.DecayRank || s.IclrRank != TKernels.IclrRank || s.GateRank != TKernels.GateRank
            || (s.Layers > 1 && s.ValueRank != TKernels.ValueRank))
        {
            throw new RwkvException(
                $"{typeName} was generated for embedding {TKernels.Embedding}, FFN {TKernels.Ffn}, ranks {TKernels.DecayRank}/{TKernels.IclrRank}/{TKernels.ValueRank}/{TKernels.GateRank}; the weights have {s}.");
        }

        _engineName = "generated " + typeName;
        BatchRowsMatchForward = Products<TKernels>.BatchRowsMatchOneTokenSteps(weights);
        _workspaces = new WorkspacePool(s, BlockTokens);
        _scheduler = new StepScheduler(WorkerPool.Shared, CpuTuning.Default);
        Tuning = TuningCalibration.ForNewEngine(this);
    }

    /// <inheritdoc />
    public override string EngineName => _engineName;

    /// <inheritdoc />
    public override bool BatchRowsMatchForward { get; }

    /// <summary>Threads for the parallel steps (default: one per processor). Small steps still run on one.</summary>
    public override int Threads
    {
        get => _scheduler.Threads;
        set => _scheduler.Threads = value;
    }

    /// <inheritdoc />
    public override CpuTuning? Tuning
    {
        get => _scheduler.Tuning;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            _runStep = value.WeightPrefetch == PrefetchHint.NonTemporal
                ? &ModelSteps<TKernels>.Run<NonTemporalPrefetch>
                : &ModelSteps<TKernels>.Run<TemporalPrefetch>;
            _scheduler.Tuning = value;
        }
    }

    /// <summary>
    /// Runs the parallel steps on <paramref name="pool"/>, with all of its threads, instead of the shared pool: lets
    /// tests split every large step across more threads than the machine has cores.
    /// </summary>
    internal void UseWorkerPool(WorkerPool pool) => _scheduler.UsePool(pool);

    /// <inheritdoc />
    protected override void StepCore(int token, RwkvState state, Span<float> logits)
    {
        Workspace ws = _workspaces.Rent();
        try
        {
            ws.States[0] = state;
            RunBlock([token], ws, chained: true, logits, allRows: false);
        }
        finally
        {
            ws.States[0] = null!;
            _workspaces.Return(ws);
        }
    }

    /// <inheritdoc />
    protected override void SequenceCore(ReadOnlySpan<int> tokens, RwkvState state, Span<float> logits, bool allRows)
    {
        Workspace ws = _workspaces.Rent();
        try
        {
            ws.States[0] = state;
            int v = Shape.Vocab;
            for (int start = 0; start < tokens.Length; start += BlockTokens)
            {
                int count = Math.Min(BlockTokens, tokens.Length - start);
                bool last = start + count == tokens.Length;
                Span<float> blockLogits = allRows ? logits.Slice(start * v, count * v) : last ? logits : [];
                RunBlock(tokens.Slice(start, count), ws, chained: true, blockLogits, allRows);
            }
        }
        finally
        {
            ws.States[0] = null!;
            _workspaces.Return(ws);
        }
    }

    /// <inheritdoc />
    protected override void BatchCore(ReadOnlySpan<int> tokens, IReadOnlyList<RwkvState> states, Span<float> logits)
    {
        Workspace ws = _workspaces.Rent();
        try
        {
            int v = Shape.Vocab;
            for (int start = 0; start < tokens.Length; start += BlockTokens)
            {
                int count = Math.Min(BlockTokens, tokens.Length - start);
                for (int n = 0; n < count; n++)
                {
                    ws.States[n] = states[start + n];
                }

                RunBlock(tokens.Slice(start, count), ws, chained: false, logits.IsEmpty ? logits : logits.Slice(start * v, count * v), allRows: true);
            }
        }
        finally
        {
            Array.Clear(ws.States);
            _workspaces.Return(ws);
        }
    }

    /// <summary>
    /// Runs up to <see cref="BlockTokens"/> rows through the whole model. With <paramref name="chained"/> the rows are
    /// consecutive tokens of the sequence whose state is <c>ws.States[0]</c>; otherwise row n belongs to <c>ws.States[n]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunBlock(ReadOnlySpan<int> tokens, Workspace ws, bool chained, Span<float> logits, bool allRows)
    {
        // Embedding, then ln0.
        int t = tokens.Length, d = TKernels.Embedding;
        for (int n = 0; n < t; n++)
        {
            Span<float> x = ws.X.Slice(n * d, d);
            Weights.Embedding.ReadRow(tokens[n], x);
            TKernels.LayerNorm(x, Weights.Ln0Weight, Weights.Ln0Bias, x);
        }

        StepContext step = ws.Step;
        step.Weights = Weights;
        step.Tokens = t;
        step.Chained = chained;
        step.Int16SequenceTokens = Products<TKernels>.Int16SequenceTokens(_scheduler.Tuning);
        for (int layer = 0; layer < Shape.Layers; layer++)
        {
            step.Layer = Weights.Layers[layer];
            step.LayerIndex = layer;
            TimeMix(layer, t, chained, ws, step);
            ChannelMix(layer, t, chained, ws, step);
        }

        if (logits.IsEmpty)
        {
            return;
        }

        // ln_out and the output head on the rows asked for: every row, or the last one.
        int first = allRows ? 0 : t - 1;
        int rows = t - first;
        for (int n = 0; n < rows; n++)
        {
            TKernels.LayerNorm(ws.X.Slice((first + n) * d, d), Weights.LnOutWeight, Weights.LnOutBias, ws.H.Slice(n * d, d));
        }

        fixed (float* target = logits)
        {
            step.Logits = target;
            step.LogitsLength = logits.Length;
            step.Tokens = rows;
            step.Int16Inputs = RoundInputs(step, ModelStep.Head);
            MatrixStep(step, ModelStep.Head, Weights.Head);
            step.Logits = null;
        }
    }

    /// <summary>The time mix of one layer: x += O·(the per-head output of r, w, k, v, a, g of the shifted ln1(x)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void TimeMix(int layer, int t, bool chained, Workspace ws, StepContext step)
    {
        LayerWeights lw = step.Layer;
        MixInputs(layer, t, chained, ws, step, attention: true);

        // Step 1: r, k, v and the four LoRA MLPs (w, a, g and the value-residual mix).
        (long bytes, long elements, long activations) = ProjectionWeights(lw, layer);
        step.Int16Inputs = RoundInputs(step, ModelStep.Projections);
        step.Kind = ModelStep.Projections;
        _scheduler.Run(_runStep, step, _scheduler.MatrixParts(bytes, elements, activations, t), bytes, StepTimings);

        // Per head: value residual, key preparation, the WKV recurrence (sequential over a sequence's tokens) and
        // GroupNorm with bonus and gate. Split by sessions in a batch (each part reads and writes its own sessions'
        // states, most of a batch's traffic here; batch of 16: 0.140-0.166 -> 0.098-0.106 ms/token against one thread)
        // and by heads in a sequence (prefill over 512 +4.1% in two bench --ab runs of 12 pairs, B winning 10 and 11).
        step.Kind = ModelStep.Heads;
        _scheduler.Run(_runStep, step, _scheduler.HeadParts(t, TKernels.Heads, chained), weightBytes: 0, StepTimings);

        // Step 2: x += O·y.
        step.Int16Inputs = RoundInputs(step, ModelStep.Output);
        MatrixStep(step, ModelStep.Output, lw.Output);
    }

    /// <summary>The channel mix of one layer: x += V·relu(K·(the shifted ln2(x)))².</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ChannelMix(int layer, int t, bool chained, Workspace ws, StepContext step)
    {
        LayerWeights lw = step.Layer;
        MixInputs(layer, t, chained, ws, step, attention: false);

        // Steps 3 and 4: hidden = relu(K·x)², then x += V·hidden.
        step.Int16Inputs = RoundInputs(step, ModelStep.FfnKey);
        MatrixStep(step, ModelStep.FfnKey, lw.FfnKey);
        step.Int16Inputs = RoundInputs(step, ModelStep.FfnValue);
        MatrixStep(step, ModelStep.FfnValue, lw.FfnValue);
    }

    /// <summary>
    /// The start of both mixes: LayerNorm (ln1 for the time mix, ln2 for the channel mix), then the token shift (each
    /// row mixes with the previous token's normalized row), then the last row saved as the shift state.
    /// </summary>
    private void MixInputs(int layer, int t, bool chained, Workspace ws, StepContext step, bool attention)
    {
        LayerWeights lw = step.Layer;
        step.NormWeight = attention ? lw.Ln1Weight : lw.Ln2Weight;
        step.NormBias = attention ? lw.Ln1Bias : lw.Ln2Bias;
        int parts = _scheduler.RowParts(t, TKernels.Embedding);
        step.Kind = ModelStep.LayerNorm;
        _scheduler.Run(_runStep, step, parts, weightBytes: 0, StepTimings);
        step.Kind = attention ? ModelStep.TimeMixInputs : ModelStep.ChannelMixInputs;
        _scheduler.Run(_runStep, step, parts, weightBytes: 0, StepTimings);
        StoreShift(layer, t, chained, ws, attention);
    }

    /// <summary>
    /// Before step <paramref name="next"/>: when its products read 16-bit inputs (every one of them:
    /// <see cref="Products{TKernels}.UsesInt16Inputs"/>), rounds its input rows into <see cref="Workspace.Int16Inputs"/>
    /// once for all of its parts, split by rows when the scheduler finds it worth it (rounding and arranging take about
    /// 0.45 ns an input on Zen 5, close to the cost model's row rate), and returns true. Before change 63 the calling
    /// thread rounded every block alone, 6% of a 4-bit prompt's time on two threads with the other thread waiting
    /// (docs/benchmarks.md).
    /// </summary>
    private bool RoundInputs(StepContext step, ModelStep next)
    {
        int t = step.Tokens, inputs = ModelSteps<TKernels>.RoundedInputs(next);
        long elements = 0;
        for (int slot = 0; slot < inputs; slot++)
        {
            _ = ModelSteps<TKernels>.RoundingInput(step, next, slot, out WeightMatrix matrix);
            if (!Products<TKernels>.UsesInt16Inputs(matrix, t, step.Chained, step.Int16SequenceTokens))
            {
                return false;
            }

            elements += matrix.Cols;
        }

        Workspace ws = step.Workspace;
        for (int slot = 0; slot < inputs; slot++)
        {
            _ = ModelSteps<TKernels>.RoundingInput(step, next, slot, out WeightMatrix matrix);
            ws.Int16Inputs[slot].Prepare(t * matrix.Cols, t, arrange: matrix.Type == TensorDType.Q4);
        }

        step.Kind = ModelStep.InputRounding;
        step.RoundingFor = next;
        _scheduler.Run(_runStep, step, _scheduler.RowParts(t, (int)elements), weightBytes: 0, StepTimings);
        return true;
    }

    /// <summary>A step of one matrix, split by its output rows when the scheduler finds it worth it.</summary>
    private void MatrixStep(StepContext step, ModelStep kind, in WeightMatrix matrix)
    {
        step.Kind = kind;
        int parts = _scheduler.MatrixParts(matrix.ByteLength, (long)matrix.Rows * matrix.Cols, matrix.Rows + matrix.Cols, step.Tokens);
        _scheduler.Run(_runStep, step, parts, matrix.ByteLength, StepTimings);
    }

    /// <summary>Saves each sequence's last ln1 (or ln2) output as its token-shift state.</summary>
    private static void StoreShift(int layer, int t, bool chained, Workspace ws, bool attention)
    {
        int d = TKernels.Embedding;
        if (chained)
        {
            RwkvState s = ws.States[0];
            ws.H.Slice((t - 1) * d, d).CopyTo(attention ? s.AttX(layer) : s.FfnX(layer));
            return;
        }

        for (int n = 0; n < t; n++)
        {
            RwkvState s = ws.States[n];
            ws.H.Slice(n * d, d).CopyTo(attention ? s.AttX(layer) : s.FfnX(layer));
        }
    }

    /// <summary>
    /// Bytes and elements of step 1's matrices (r, k, v and the LoRAs; layer 0 has no value-residual LoRA) and the
    /// floats per row they read and write.
    /// </summary>
    private static (long Bytes, long Elements, long Activations) ProjectionWeights(LayerWeights lw, int layer)
    {
        long bytes = 0, elements = 0, activations = TKernels.Embedding;
        foreach (WeightMatrix m in (ReadOnlySpan<WeightMatrix>)[lw.Receptance, lw.Key, lw.Value, lw.DecayDown, lw.DecayUp,
            lw.IclrDown, lw.IclrUp, lw.GateDown, lw.GateUp])
        {
            bytes += m.ByteLength;
            elements += (long)m.Rows * m.Cols;
            activations += m.Rows;
        }

        if (layer > 0)
        {
            bytes += lw.ValueDown.ByteLength + lw.ValueUp.ByteLength;
            elements += ((long)lw.ValueDown.Rows * lw.ValueDown.Cols) + ((long)lw.ValueUp.Rows * lw.ValueUp.Cols);
            activations += lw.ValueDown.Rows + lw.ValueUp.Rows;
        }

        return (bytes, elements, activations);
    }
}
