using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Rwkv7.Gen.Benchmarking;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// The engine behind every generated model: the order of operations of an RWKV-7 forward pass, written once,
/// calling the kernels that the source generator specialized for one set of layer widths (<typeparamref name="TKernels"/>).
/// Depth and vocabulary are loop bounds here, so one generated type runs any checkpoint with its layer widths.
/// </summary>
/// <remarks>
/// <para>
/// Work is done in blocks of up to <see cref="BlockTokens"/> rows. In sequence mode (prefill) the rows are
/// consecutive tokens of one sequence; in batch mode they are one token of each of several sessions. Either way
/// every layer handles all rows before the next layer starts, so each weight is read once per block.
/// </para>
/// <para>
/// Per layer, the matrix products run as four parallel steps on a persistent <see cref="WorkerPool"/>, each split
/// by output rows: (1) receptance, key and value projections together with the four LoRA MLPs, (2) the output
/// projection, (3) the FFN key with ReLU², (4) the FFN value; the output head is a fifth step. Between them,
/// LayerNorm and the token shift are split by rows when a block has many rows, and the per-head work (the WKV
/// recurrence, GroupNorm) runs on the calling thread. A step too small to gain from threads runs on one.
/// <see cref="RwkvModel.StepTimings"/> times every step.
/// </para>
/// <para>
/// What depends on the processor comes from <see cref="RwkvModel.Tuning"/> (<see cref="CpuTuning"/>): the cost model
/// that decides when a step is split, the parts per thread, and the prefetch policy the kernels are instantiated
/// with. The policy is chosen once per tuning, as a function pointer to the step runner instantiated for it, so no
/// kernel reads it.
/// </para>
/// </remarks>
/// <typeparam name="TKernels">The generated kernels.</typeparam>
public abstract unsafe partial class SpecializedModel<TKernels> : RwkvModel
    where TKernels : struct, IRwkvKernels
{
    /// <summary>Rows processed together.</summary>
    public const int BlockTokens = 64;

    /// <summary>Row ranges given to threads start at multiples of this (whole 64-byte lines of output).</summary>
    private const int RowAlign = 16;

    private const int HeadSize = ModelShape.SupportedHeadSize;

    private readonly string _engineName;
    private readonly WorkspacePool _workspaces;
    private WorkerPool _pool;
    private int _threads;
    private CpuTuning _tuning = null!;
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
        _workspaces = new WorkspacePool(s, BlockTokens);
        _pool = WorkerPool.Shared;
        _threads = _pool.Threads;
        Tuning = TuningCalibration.ForNewEngine(this);
    }

    /// <inheritdoc />
    public override string EngineName => _engineName;

    /// <summary>Threads for the parallel steps (default: one per processor). Small steps still run on one.</summary>
    public override int Threads
    {
        get => _threads;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _threads = Math.Min(value, _pool.Threads);
        }
    }

    /// <summary>
    /// Runs the parallel steps on <paramref name="pool"/>, with all of its threads, instead of the shared pool: lets
    /// tests split every large step across more threads than the machine has cores.
    /// </summary>
    internal void UseWorkerPool(WorkerPool pool)
    {
        _pool = pool;
        _threads = pool.Threads;
    }

    /// <inheritdoc />
    public override CpuTuning? Tuning
    {
        get => _tuning;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            _runStep = value.WeightPrefetch == PrefetchHint.NonTemporal ? &RunStep<NonTemporalPrefetch> : &RunStep<TemporalPrefetch>;
            _tuning = value;
        }
    }

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
        int t = tokens.Length, d = TKernels.Embedding;
        for (int n = 0; n < t; n++)
        {
            Span<float> x = ws.X.AsSpan(n * d, d);
            Weights.Embedding.ReadRow(tokens[n], x);
            TKernels.LayerNorm(x, Weights.Ln0Weight, Weights.Ln0Bias, x);
        }

        var step = (ws.Step as StepContext) ?? new StepContext(this, ws);
        ws.Step = step;
        step.Tokens = t;
        for (int layer = 0; layer < Shape.Layers; layer++)
        {
            step.Layer = Weights.Layers[layer];
            TimeMix(layer, t, chained, ws, step);
            ChannelMix(layer, t, chained, ws, step);
        }

        if (logits.IsEmpty)
        {
            return;
        }

        // Output head on the rows asked for: every row, or the last one.
        int first = allRows ? 0 : t - 1;
        int rows = t - first;
        for (int n = 0; n < rows; n++)
        {
            TKernels.LayerNorm(ws.X.AsSpan((first + n) * d, d), Weights.LnOutWeight, Weights.LnOutBias, ws.H.AsSpan(n * d, d));
        }

        fixed (float* target = logits)
        {
            step.Logits = target;
            step.LogitsLength = logits.Length;
            step.Tokens = rows;
            step.Int16Inputs = RoundInputs(step, Weights.Head, ws.H, 0);
            Parallel(step, ModelStep.Head, Weights.Head);
            step.Logits = null;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void TimeMix(int layer, int t, bool chained, Workspace ws, StepContext step)
    {
        LayerWeights lw = step.Layer;
        MixInputs(layer, t, chained, ws, step, attention: true);

        // Step 1: r, k, v and the four LoRA MLPs (w, a, g and the value-residual mix).
        (long bytes, long elements, long activations) = ProjectionWeights(lw, layer);
        step.Int16Inputs = t == 1 && TakesInt16Inputs(lw.Receptance) && TakesInt16Inputs(lw.Key) && TakesInt16Inputs(lw.Value)
            && RoundInputs(step, lw.Receptance, ws.XR, 0) && RoundInputs(step, lw.Key, ws.XK, 1) && RoundInputs(step, lw.Value, ws.XV, 2);
        Parallel(step, ModelStep.Projections, bytes, elements, activations);

        // Per head: value residual, key preparation, the WKV recurrence (sequential over a sequence's tokens) and
        // GroupNorm with bonus and gate, split across threads when there is enough work: a batch by sessions (each part
        // reads and writes its own sessions' states, most of a batch's traffic here; batch of 16: 0.140-0.166 -> 0.098-
        // 0.106 ms/token against one thread), a sequence by heads (each part runs every row, in order, for its heads:
        // prefill over 512 +4.1% in two bench --ab runs of 12 pairs, B winning 10 and 11; an earlier try, at commit
        // c79f873, measured it slower than one thread, and what has changed since is not known).
        int parts = t * TKernels.Heads * _tuning.HeadRowNanoseconds < MinParallelNanoseconds ? 1
            : chained ? Math.Min(Parts, TKernels.Heads)
            : Math.Min(Parts, t);
        step.Kind = ModelStep.Heads;
        Dispatch(step, parts, weightBytes: 0);

        // Step 2: x += O·y.
        step.Int16Inputs = RoundInputs(step, lw.Output, ws.Y, 0);
        Parallel(step, ModelStep.Output, lw.Output);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ChannelMix(int layer, int t, bool chained, Workspace ws, StepContext step)
    {
        LayerWeights lw = step.Layer;
        MixInputs(layer, t, chained, ws, step, attention: false);

        // Steps 3 and 4: hidden = relu(K·x)², then x += V·hidden.
        step.Int16Inputs = RoundInputs(step, lw.FfnKey, ws.XK, 0);
        Parallel(step, ModelStep.FfnKey, lw.FfnKey);
        step.Int16Inputs = RoundInputs(step, lw.FfnValue, ws.Hidden, 0);
        Parallel(step, ModelStep.FfnValue, lw.FfnValue);
    }

    /// <summary>
    /// Before a one-token product with an 8- or 4-bit matrix: rounds its input row to 16 bits into slot
    /// <paramref name="slot"/> of the workspace (<see cref="Int16Activations"/>), once for all of the step's parts, and
    /// returns true so the step runs <see cref="Int16Product{TPrefetch}"/>. Other steps keep fp32 inputs: several tokens per
    /// weight (prefill, batches) make the products arithmetic-bound on FMAs, where fp32 tiles do better.
    /// </summary>
    private static bool RoundInputs(StepContext step, in WeightMatrix matrix, float[] input, int slot)
    {
        if (step.Tokens != 1 || !TakesInt16Inputs(matrix))
        {
            return false;
        }

        Workspace ws = step.Workspace;
        Int16Activations.Quantize(input.AsSpan(0, matrix.Cols), ws.Int16Inputs[slot], ws.Int16Scales[slot]);
        return true;
    }

    /// <summary>relu(h)² in place: the channel mix's activation, as the generated FfnHidden applies it.</summary>
    private static void SquaredRelu(Span<float> hidden)
    {
        TensorPrimitives.Max(hidden, 0f, hidden);
        TensorPrimitives.Multiply(hidden, hidden, hidden);
    }

    /// <summary>Whether one-token products of <paramref name="matrix"/> read 16-bit inputs: 8- and 4-bit matrices.</summary>
    private static bool TakesInt16Inputs(in WeightMatrix matrix) => matrix.Type is TensorDType.Q8 or TensorDType.Q4;

    /// <summary>
    /// A one-token product with 16-bit inputs: the generated 8-bit kernel (<see cref="IRwkvKernels.MatMulQ8Int16{TPrefetch}"/>) or
    /// the 4-bit one (<see cref="Q4Kernels.MatMulInt16{TPrefetch}"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Int16Product<TPrefetch>(in WeightMatrix w, short[] x, float[] xScales, Span<float> y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        if (w.Type == TensorDType.Q4)
        {
            Q4Kernels.MatMulInt16<TPrefetch>(w, x, xScales, y, rowStart, rowEnd, accumulate);
        }
        else
        {
            TKernels.MatMulQ8Int16<TPrefetch>(w, x, xScales, y, rowStart, rowEnd, accumulate);
        }
    }

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for T tokens with fp32 inputs: the
    /// generated product, except for the types the generated models have no kernels for, 4-bit matrices and, with
    /// several tokens, fp16 ones (see <see cref="Widens"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Product<TPrefetch>(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        if (Widens(w, tokens))
        {
            WidenedProduct<TPrefetch>(w, x, y, tokens, yStride, rowStart, rowEnd, accumulate);
        }
        else
        {
            TKernels.MatMul<TPrefetch>(w, x, y, tokens, yStride, rowStart, rowEnd, accumulate);
        }
    }

    /// <summary>
    /// Whether a product of <paramref name="w"/> widens its rows to fp32 a chunk at a time (<see
    /// cref="WidenedChunkBytes"/>, in a per-thread buffer) and multiplies them with the generated fp32 tiles, paying
    /// the widening once per row for all of the call's tokens: 4-bit matrices, and fp16 ones with several tokens (0.1B,
    /// 2 threads, `bench --ab` against the fallback's 4×4 tiles: prefill +8 to +28%, batch of 16 +6 to +30%, B winning
    /// every pair but three in four runs). One fp16 token takes the fallback's in-register widening.
    /// </summary>
    private static bool Widens(in WeightMatrix w, int tokens) => w.Type == TensorDType.Q4 || (w.Type == TensorDType.F16 && tokens > 1);

    /// <summary>Bytes of fp32 rows <see cref="WidenedProduct{TPrefetch}"/> widens at a time: a few row tiles of 6, in L2.</summary>
    private const int WidenedChunkBytes = 144 << 10;

    /// <summary>Each thread's fp32 rows for <see cref="WidenedProduct{TPrefetch}"/> (pinned: the weight matrix over it is a pointer).</summary>
    [ThreadStatic]
    private static float[]? t_widenedRows;

    private static void WidenedProduct<TPrefetch>(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        int cols = w.Cols;
        int chunkRows = Math.Max(6, WidenedChunkBytes / sizeof(float) / cols / 6 * 6);
        float[] rows = t_widenedRows is { } buffer && buffer.Length >= chunkRows * cols
            ? buffer
            : (t_widenedRows = GC.AllocateUninitializedArray<float>(chunkRows * cols, pinned: true));
        byte* data = (byte*)Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(rows));
        for (int r = rowStart; r < rowEnd; r += chunkRows)
        {
            int n = Math.Min(chunkRows, rowEnd - r);
            for (int k = 0; k < n; k++)
            {
                w.ReadRow(r + k, rows.AsSpan(k * cols, cols));
            }

            TKernels.MatMul<TPrefetch>(new WeightMatrix(data, n, cols, TensorDType.F32), x, y[r..], tokens, yStride, 0, n, accumulate);
        }
    }

    /// <summary>
    /// The start of both mixes: LayerNorm (ln1 for the time mix, ln2 for the channel mix), then the token shift (each
    /// row mixes with the previous token's normalized row), then the last row saved as the shift state.
    /// </summary>
    private void MixInputs(int layer, int t, bool chained, Workspace ws, StepContext step, bool attention)
    {
        LayerWeights lw = step.Layer;
        step.LayerIndex = layer;
        step.Chained = chained;
        step.NormWeight = attention ? lw.Ln1Weight : lw.Ln2Weight;
        step.NormBias = attention ? lw.Ln1Bias : lw.Ln2Bias;
        ParallelRows(step, ModelStep.LayerNorm, t);
        ParallelRows(step, attention ? ModelStep.TimeMixInputs : ModelStep.ChannelMixInputs, t);
        StoreShift(layer, t, chained, ws, attention);
    }

    /// <summary>A step over rows (tokens or sessions), split across threads only when there are many rows.</summary>
    private void ParallelRows(StepContext step, ModelStep kind, int rows)
    {
        step.Kind = kind;
        int parts = (double)rows * TKernels.Embedding / _tuning.RowElementsPerNanosecond >= MinParallelNanoseconds ? Parts : 1;
        Dispatch(step, parts, weightBytes: 0);
    }

    /// <summary>
    /// The previous token's ln1 (or ln2) output for row n: the row before it in a sequence, or the row's state
    /// (the sequence's first row, or any row in batch mode).
    /// </summary>
    private static ReadOnlySpan<float> Previous(int layer, int n, bool chained, Workspace ws, bool attention)
    {
        if (chained && n > 0)
        {
            int d = TKernels.Embedding;
            return ws.H.AsSpan((n - 1) * d, d);
        }

        RwkvState s = ws.States[chained ? 0 : n];
        return attention ? s.AttX(layer) : s.FfnX(layer);
    }

    /// <summary>Saves each sequence's last ln1 (or ln2) output as its token-shift state.</summary>
    private static void StoreShift(int layer, int t, bool chained, Workspace ws, bool attention)
    {
        int d = TKernels.Embedding;
        if (chained)
        {
            RwkvState s = ws.States[0];
            ws.H.AsSpan((t - 1) * d, d).CopyTo(attention ? s.AttX(layer) : s.FfnX(layer));
            return;
        }

        for (int n = 0; n < t; n++)
        {
            RwkvState s = ws.States[n];
            ws.H.AsSpan(n * d, d).CopyTo(attention ? s.AttX(layer) : s.FfnX(layer));
        }
    }

    /// <summary>
    /// A matrix step over <paramref name="weightBytes"/> of weights (<paramref name="weights"/> elements) that reads and
    /// writes <paramref name="activations"/> floats for each of the step's rows. It is split when streaming the weights
    /// or doing the multiply-adds would keep one thread busy long enough (decode is bound by the first, prefill and
    /// batches by the second), and when that time is well above the cost of moving the activations between the cores'
    /// caches, which the next step pays when another thread wrote them (<see cref="CpuTuning.MinWorkToMigration"/>).
    /// On Zen 5 the tiny shape's 64-wide steps fail the second test: split, its prefill ran at 26–31k tokens/s on two
    /// threads against 43k on one (docs/benchmarks.md, change 10).
    /// </summary>
    private void Parallel(StepContext step, ModelStep kind, long weightBytes, long weights, long activations)
    {
        step.Kind = kind;
        CpuTuning tuning = _tuning;
        double work = Math.Max(weightBytes / tuning.StreamBytesPerNanosecond, (double)weights * step.Tokens / tuning.MultiplyAddsPerNanosecond);
        double migration = (double)activations * step.Tokens * sizeof(float) / tuning.CrossCoreBytesPerNanosecond;
        int parts = work >= MinParallelNanoseconds && work >= tuning.MinWorkToMigration * migration ? Parts : 1;
        Dispatch(step, parts, weightBytes);
    }

    /// <summary>The tuning's split threshold in nanoseconds, the unit of the cost model.</summary>
    private double MinParallelNanoseconds => _tuning.MinParallelMicroseconds * 1000;

    /// <summary>Runs the step in <paramref name="parts"/> parts on the pool, timed when <see cref="RwkvModel.StepTimings"/> is set.</summary>
    private void Dispatch(StepContext step, int parts, long weightBytes)
    {
        if (StepTimings is not { } timings)
        {
            _pool.Run(_runStep, step, parts);
            return;
        }

        long start = Stopwatch.GetTimestamp();
        _pool.Run(_runStep, step, parts);
        timings.Add(step.Kind, Stopwatch.GetTimestamp() - start, weightBytes);
    }

    /// <summary>Parts of a step worth splitting: several per thread (<see cref="CpuTuning.PartsPerThread"/>), or 1 when the model runs on one thread.</summary>
    private int Parts => _threads > 1 ? Math.Min(_threads * _tuning.PartsPerThread, WorkerPool.MaxParts) : 1;

    private void Parallel(StepContext step, ModelStep kind, WeightMatrix matrix) =>
        Parallel(step, kind, matrix.ByteLength, (long)matrix.Rows * matrix.Cols, matrix.Rows + matrix.Cols);

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

    /// <summary>
    /// Runs part <paramref name="part"/> of <paramref name="parts"/> of the step described by <paramref name="context"/>,
    /// with the kernels instantiated for the prefetch policy <typeparamref name="TPrefetch"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunStep<TPrefetch>(object context, int part, int parts)
        where TPrefetch : struct, IWeightPrefetch
    {
        var step = (StepContext)context;
        Workspace ws = step.Workspace;
        LayerWeights lw = step.Layer;
        int t = step.Tokens, d = TKernels.Embedding;
        switch (step.Kind)
        {
            case ModelStep.LayerNorm:
            {
                (int start, int end) = WorkerPool.Range(t, part, parts);
                for (int n = start; n < end; n++)
                {
                    TKernels.LayerNorm(ws.X.AsSpan(n * d, d), step.NormWeight, step.NormBias, ws.H.AsSpan(n * d, d));
                }

                break;
            }

            case ModelStep.TimeMixInputs:
            {
                (int start, int end) = WorkerPool.Range(t, part, parts);
                for (int n = start; n < end; n++)
                {
                    TKernels.TimeMixInputs(
                        ws.H.AsSpan(n * d, d), Previous(step.LayerIndex, n, step.Chained, ws, attention: true), lw,
                        ws.XR.AsSpan(n * d, d), ws.XW.AsSpan(n * d, d), ws.XK.AsSpan(n * d, d),
                        ws.XV.AsSpan(n * d, d), ws.XA.AsSpan(n * d, d), ws.XG.AsSpan(n * d, d));
                }

                break;
            }

            case ModelStep.ChannelMixInputs:
            {
                (int start, int end) = WorkerPool.Range(t, part, parts);
                for (int n = start; n < end; n++)
                {
                    TKernels.ChannelMixInput(ws.H.AsSpan(n * d, d), Previous(step.LayerIndex, n, step.Chained, ws, attention: false), lw, ws.XK.AsSpan(n * d, d));
                }

                break;
            }

            case ModelStep.Heads:
                RunHeads(step, part, parts);
                break;
            case ModelStep.Projections:
                RunProjections<TPrefetch>(step, part, parts);
                break;
            case ModelStep.Output:
            {
                (int start, int end) = WorkerPool.Range(d, part, parts, RowAlign);
                if (step.Int16Inputs)
                {
                    Int16Product<TPrefetch>(lw.Output, ws.Int16Inputs[0], ws.Int16Scales[0], ws.X, start, end, accumulate: true);
                }
                else
                {
                    Product<TPrefetch>(lw.Output, ws.Y, ws.X, t, d, start, end, accumulate: true);
                }

                break;
            }

            case ModelStep.FfnKey:
            {
                (int start, int end) = WorkerPool.Range(TKernels.Ffn, part, parts, RowAlign);
                if (step.Int16Inputs)
                {
                    // relu(K·x)² as FfnHidden computes it, from the 16-bit inputs.
                    Int16Product<TPrefetch>(lw.FfnKey, ws.Int16Inputs[0], ws.Int16Scales[0], ws.Hidden, start, end, accumulate: false);
                    SquaredRelu(ws.Hidden.AsSpan(start, end - start));
                }
                else
                {
                    if (Widens(lw.FfnKey, t))
                    {
                        // relu(K·x)² as FfnHidden computes it, from the widened 4-bit or fp16 rows.
                        Product<TPrefetch>(lw.FfnKey, ws.XK, ws.Hidden, t, TKernels.Ffn, start, end, accumulate: false);
                        for (int token = 0; token < t; token++)
                        {
                            SquaredRelu(ws.Hidden.AsSpan((token * TKernels.Ffn) + start, end - start));
                        }
                    }
                    else
                    {
                        TKernels.FfnHidden<TPrefetch>(lw.FfnKey, ws.XK, ws.Hidden, t, start, end);
                    }
                }

                break;
            }

            case ModelStep.FfnValue:
            {
                (int start, int end) = WorkerPool.Range(d, part, parts, RowAlign);
                if (step.Int16Inputs)
                {
                    Int16Product<TPrefetch>(lw.FfnValue, ws.Int16Inputs[0], ws.Int16Scales[0], ws.X, start, end, accumulate: true);
                }
                else
                {
                    Product<TPrefetch>(lw.FfnValue, ws.Hidden, ws.X, t, d, start, end, accumulate: true);
                }

                break;
            }

            case ModelStep.Head:
            {
                WeightMatrix head = step.Model.Weights.Head;
                (int start, int end) = WorkerPool.Range(head.Rows, part, parts, RowAlign);
                var logits = new Span<float>(step.Logits, step.LogitsLength);
                if (step.Int16Inputs)
                {
                    Int16Product<TPrefetch>(head, ws.Int16Inputs[0], ws.Int16Scales[0], logits, start, end, accumulate: false);
                }
                else
                {
                    Product<TPrefetch>(head, ws.H, logits, t, head.Rows, start, end, accumulate: false);
                }

                break;
            }
        }
    }

    /// <summary>
    /// The per-head work of a time mix for part <paramref name="part"/>: a range of a sequence's heads over all of its
    /// rows, in order, or every head of a range of a batch's sessions. Value residual, key preparation, the WKV
    /// recurrence and the GroupNorm/bonus/gate output.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunHeads(StepContext step, int part, int parts)
    {
        // A sequence split in parts is split by heads: every part runs all rows, in order, for its own heads.
        bool byHeads = step.Chained && parts > 1;
        (int start, int end) = byHeads ? (0, step.Tokens) : WorkerPool.Range(step.Tokens, part, parts);
        (int headStart, int headEnd) = byHeads ? WorkerPool.Range(TKernels.Heads, part, parts) : (0, TKernels.Heads);
        Workspace ws = step.Workspace;
        LayerWeights lw = step.Layer;
        int layer = step.LayerIndex, d = TKernels.Embedding, area = HeadSize * HeadSize;
        int c0 = headStart * HeadSize, cn = (headEnd - headStart) * HeadSize;
        for (int n = start; n < end; n++)
        {
            int o = n * d;
            Span<float> v = ws.V.AsSpan(o + c0, cn);
            if (layer == 0)
            {
                v.CopyTo(ws.VFirst.AsSpan(o + c0, cn));
            }
            else
            {
                TensorPrimitives.Lerp(v, ws.VFirst.AsSpan(o + c0, cn), ws.VMix.AsSpan(o + c0, cn), v);
            }

            TKernels.KeyPrep(ws.K.AsSpan(o, d), ws.KK.AsSpan(o, d), ws.A.AsSpan(o, d), lw, headStart, headEnd);
            Span<float> wkv = (step.Chained ? ws.States[0] : ws.States[n]).Wkv(layer);

            // Each head's 16 KiB of state comes from memory (the layer's weights have streamed through the caches since it was
            // last touched): ask for the next head's, or the next session's first head's, while this one is computed.
            // A sequence's later rows find their state in cache.
            bool fetch = !step.Chained || n == start;
            for (int h = headStart; h < headEnd; h++)
            {
                if (fetch)
                {
                    Span<float> next = h + 1 < headEnd ? wkv.Slice((h + 1) * area, area)
                        : !step.Chained && n + 1 < end ? ws.States[n + 1].Wkv(layer).Slice(0, area) : [];
                    for (int i = 0; i < next.Length; i += 16)
                    {
                        Prefetch.Read(ref next[0], (nuint)i);
                    }
                }

                int at = o + (h * HeadSize);
                TKernels.Wkv(
                    wkv.Slice(h * area, area),
                    ws.R.AsSpan(at, HeadSize), ws.W.AsSpan(at, HeadSize), ws.K.AsSpan(at, HeadSize), ws.V.AsSpan(at, HeadSize),
                    ws.KK.AsSpan(at, HeadSize), ws.A.AsSpan(at, HeadSize), ws.Y.AsSpan(at, HeadSize));
            }

            TKernels.HeadOutput(ws.Y.AsSpan(o, d), ws.R.AsSpan(o, d), ws.K.AsSpan(o, d), ws.V.AsSpan(o, d), ws.G.AsSpan(o, d), lw, headStart, headEnd);
        }
    }

    /// <summary>
    /// Step 1, part <paramref name="part"/>: whole LoRA MLPs are dealt to parts (largest first, to the least loaded),
    /// then the receptance, key and value rows are divided so that every part reads about the same number of bytes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunProjections<TPrefetch>(StepContext step, int part, int parts)
        where TPrefetch : struct, IWeightPrefetch
    {
        Workspace ws = step.Workspace;
        LayerWeights lw = step.Layer;
        int t = step.Tokens, d = TKernels.Embedding;
        bool hasValue = !lw.ValueDown.IsEmpty;

        Span<long> load = stackalloc long[parts];
        Span<int> owner = stackalloc int[Workspace.LoraCount];
        Span<long> cost = stackalloc long[Workspace.LoraCount];
        cost[0] = lw.DecayDown.ByteLength + lw.DecayUp.ByteLength;
        cost[1] = lw.IclrDown.ByteLength + lw.IclrUp.ByteLength;
        cost[2] = lw.GateDown.ByteLength + lw.GateUp.ByteLength;
        cost[3] = hasValue ? lw.ValueDown.ByteLength + lw.ValueUp.ByteLength : 0;
        for (int assigned = 0; assigned < Workspace.LoraCount; assigned++)
        {
            int largest = -1;
            for (int i = 0; i < Workspace.LoraCount; i++)
            {
                if (cost[i] >= 0 && (largest < 0 || cost[i] > cost[largest]))
                {
                    largest = i;
                }
            }

            int least = 0;
            for (int p = 1; p < parts; p++)
            {
                least = load[p] < load[least] ? p : least;
            }

            owner[largest] = least;
            load[least] += cost[largest];
            cost[largest] = -1;
        }

        // Rows of r, k and v so that LoRA bytes plus projection bytes are even across parts.
        long rowBytes = 3 * lw.Receptance.ByteLength / d;
        long total = (rowBytes * d) + LoraTotal(load);
        int start = 0, end = 0;
        long before = 0;
        for (int p = 0; p <= part; p++)
        {
            long target = (total * (p + 1) / parts) - before - load[p];
            int rows = p == parts - 1 ? d - start : (int)Math.Clamp(target / rowBytes, 0, d - start) / RowAlign * RowAlign;
            end = start + rows;
            before += load[p] + (rows * rowBytes);
            if (p < part)
            {
                start = end;
            }
        }

        if (end > start && step.Int16Inputs)
        {
            Int16Product<TPrefetch>(lw.Receptance, ws.Int16Inputs[0], ws.Int16Scales[0], ws.R, start, end, accumulate: false);
            Int16Product<TPrefetch>(lw.Key, ws.Int16Inputs[1], ws.Int16Scales[1], ws.K, start, end, accumulate: false);
            Int16Product<TPrefetch>(lw.Value, ws.Int16Inputs[2], ws.Int16Scales[2], ws.V, start, end, accumulate: false);
        }
        else if (end > start)
        {
            Product<TPrefetch>(lw.Receptance, ws.XR, ws.R, t, d, start, end, accumulate: false);
            Product<TPrefetch>(lw.Key, ws.XK, ws.K, t, d, start, end, accumulate: false);
            Product<TPrefetch>(lw.Value, ws.XV, ws.V, t, d, start, end, accumulate: false);
        }

        int block = t * d;
        if (owner[0] == part)
        {
            TKernels.DecayLora<TPrefetch>(ws.XW.AsSpan(0, block), lw, ws.W.AsSpan(0, block), ws.LoraScratch[0], t);
        }

        if (owner[1] == part)
        {
            TKernels.IclrLora<TPrefetch>(ws.XA.AsSpan(0, block), lw, ws.A.AsSpan(0, block), ws.LoraScratch[1], t);
        }

        if (owner[2] == part)
        {
            TKernels.GateLora<TPrefetch>(ws.XG.AsSpan(0, block), lw, ws.G.AsSpan(0, block), ws.LoraScratch[2], t);
        }

        if (hasValue && owner[3] == part)
        {
            TKernels.ValueLora<TPrefetch>(ws.XV.AsSpan(0, block), lw, ws.VMix.AsSpan(0, block), ws.LoraScratch[3], t);
        }
    }

    private static long LoraTotal(ReadOnlySpan<long> load)
    {
        long sum = 0;
        foreach (long l in load)
        {
            sum += l;
        }

        return sum;
    }

    /// <summary>What a parallel step works on; one per workspace, reused for every step.</summary>
    private sealed class StepContext(SpecializedModel<TKernels> model, Workspace workspace)
    {
        public SpecializedModel<TKernels> Model { get; } = model;

        public Workspace Workspace { get; } = workspace;

        public ModelStep Kind { get; set; }

        public LayerWeights Layer { get; set; } = null!;

        public int LayerIndex { get; set; }

        public bool Chained { get; set; }

        /// <summary>The step's one-token product reads inputs rounded to 16 bits (see <c>RoundInputs</c>).</summary>
        public bool Int16Inputs { get; set; }

        public float[] NormWeight { get; set; } = [];

        public float[] NormBias { get; set; } = [];

        public int Tokens { get; set; }

        public float* Logits { get; set; }

        public int LogitsLength { get; set; }
    }
}
