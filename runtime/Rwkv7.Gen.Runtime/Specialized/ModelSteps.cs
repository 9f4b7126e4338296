using System.Runtime.CompilerServices;
using Rwkv7.Gen.Benchmarking;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// The bodies of the forward pass's parallel steps (<see cref="ModelStep"/>): what one part of a step computes, given
/// the step's context and which of its parts it is. The forward pass (<see cref="SpecializedModel{TKernels}"/>) fills
/// in the context and the <see cref="StepScheduler"/> runs the parts; matrix products go through
/// <see cref="Products{TKernels}"/>.
/// </summary>
/// <typeparam name="TKernels">The generated kernels.</typeparam>
internal static unsafe class ModelSteps<TKernels>
    where TKernels : struct, IRwkvKernels
{
    /// <summary>Row ranges given to threads start at multiples of this (whole 64-byte lines of output).</summary>
    private const int RowAlign = 16;

    private const int HeadSize = ModelShape.SupportedHeadSize;

    /// <summary>
    /// Runs part <paramref name="part"/> of <paramref name="parts"/> of the step described by <paramref name="context"/>,
    /// with the kernels instantiated for the prefetch policy <typeparamref name="TPrefetch"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TPrefetch>(object context, int part, int parts)
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
                    TKernels.LayerNorm(ws.X.Slice(n * d, d), step.NormWeight, step.NormBias, ws.H.Slice(n * d, d));
                }

                break;
            }

            case ModelStep.TimeMixInputs:
            {
                (int start, int end) = WorkerPool.Range(t, part, parts);
                for (int n = start; n < end; n++)
                {
                    TKernels.TimeMixInputs(
                        ws.H.Slice(n * d, d), Previous(step.LayerIndex, n, step.Chained, ws, attention: true), lw,
                        ws.XR.Slice(n * d, d), ws.XW.Slice(n * d, d), ws.XK.Slice(n * d, d),
                        ws.XV.Slice(n * d, d), ws.XA.Slice(n * d, d), ws.XG.Slice(n * d, d));
                }

                break;
            }

            case ModelStep.ChannelMixInputs:
            {
                (int start, int end) = WorkerPool.Range(t, part, parts);
                for (int n = start; n < end; n++)
                {
                    TKernels.ChannelMixInput(ws.H.Slice(n * d, d), Previous(step.LayerIndex, n, step.Chained, ws, attention: false), lw, ws.XK.Slice(n * d, d));
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
                    Products<TKernels>.Int16Product<TPrefetch>(lw.Output, ws.Int16Inputs[0], ws.X, d, start, end, accumulate: true);
                }
                else
                {
                    Products<TKernels>.Product<TPrefetch>(lw.Output, ws.Y, ws.X, t, d, start, end, accumulate: true);
                }

                break;
            }

            case ModelStep.FfnKey:
            {
                (int start, int end) = WorkerPool.Range(TKernels.Ffn, part, parts, RowAlign);
                if (step.Int16Inputs || Products<TKernels>.Widens(lw.FfnKey, t))
                {
                    // relu(K·x)² as FfnHidden computes it, from the 16-bit inputs or the widened 4-bit or fp16 rows.
                    if (step.Int16Inputs)
                    {
                        Products<TKernels>.Int16Product<TPrefetch>(lw.FfnKey, ws.Int16Inputs[0], ws.Hidden, TKernels.Ffn, start, end, accumulate: false);
                    }
                    else
                    {
                        Products<TKernels>.Product<TPrefetch>(lw.FfnKey, ws.XK, ws.Hidden, t, TKernels.Ffn, start, end, accumulate: false);
                    }

                    for (int token = 0; token < t; token++)
                    {
                        Activations.SquaredRelu(ws.Hidden.Slice((token * TKernels.Ffn) + start, end - start));
                    }
                }
                else
                {
                    TKernels.FfnHidden<TPrefetch>(lw.FfnKey, ws.XK, ws.Hidden, t, start, end);
                }

                break;
            }

            case ModelStep.FfnValue:
            {
                (int start, int end) = WorkerPool.Range(d, part, parts, RowAlign);
                if (step.Int16Inputs)
                {
                    Products<TKernels>.Int16Product<TPrefetch>(lw.FfnValue, ws.Int16Inputs[0], ws.X, d, start, end, accumulate: true);
                }
                else
                {
                    Products<TKernels>.Product<TPrefetch>(lw.FfnValue, ws.Hidden, ws.X, t, d, start, end, accumulate: true);
                }

                break;
            }

            case ModelStep.InputRounding:
            {
                (int start, int end) = WorkerPool.Range(t, part, parts);
                for (int slot = 0; slot < RoundedInputs(step.RoundingFor); slot++)
                {
                    ReadOnlySpan<float> x = RoundingInput(step, step.RoundingFor, slot, out WeightMatrix matrix);
                    ws.Int16Inputs[slot].RoundRows(x[..(t * matrix.Cols)], start, end);
                }

                break;
            }

            case ModelStep.Head:
            {
                WeightMatrix head = step.Weights.Head;
                (int start, int end) = WorkerPool.Range(head.Rows, part, parts, RowAlign);
                var logits = new Span<float>(step.Logits, step.LogitsLength);
                if (step.Int16Inputs)
                {
                    Products<TKernels>.Int16Product<TPrefetch>(head, ws.Int16Inputs[0], logits, head.Rows, start, end, accumulate: false);
                }
                else
                {
                    Products<TKernels>.Product<TPrefetch>(head, ws.H, logits, t, head.Rows, start, end, accumulate: false);
                }

                break;
            }
        }
    }

    /// <summary>How many inputs the products of <paramref name="step"/> read: the projections' r, k and v take three.</summary>
    public static int RoundedInputs(ModelStep step) => step == ModelStep.Projections ? 3 : 1;

    /// <summary>
    /// Input <paramref name="slot"/> of the products of <paramref name="next"/> (the rows of every token of the block, and
    /// more: slice it to the tokens), and the matrix it multiplies; rounded, it goes to
    /// <see cref="Workspace.Int16Inputs"/>[<paramref name="slot"/>].
    /// </summary>
    public static ReadOnlySpan<float> RoundingInput(StepContext step, ModelStep next, int slot, out WeightMatrix matrix)
    {
        Workspace ws = step.Workspace;
        LayerWeights lw = step.Layer;
        switch (next, slot)
        {
            case (ModelStep.Projections, 0):
                matrix = lw.Receptance;
                return ws.XR;
            case (ModelStep.Projections, 1):
                matrix = lw.Key;
                return ws.XK;
            case (ModelStep.Projections, 2):
                matrix = lw.Value;
                return ws.XV;
            case (ModelStep.Output, 0):
                matrix = lw.Output;
                return ws.Y;
            case (ModelStep.FfnKey, 0):
                matrix = lw.FfnKey;
                return ws.XK;
            case (ModelStep.FfnValue, 0):
                matrix = lw.FfnValue;
                return ws.Hidden;
            case (ModelStep.Head, 0):
                matrix = step.Weights.Head;
                return ws.H;
            default:
                throw new ArgumentOutOfRangeException(nameof(slot), $"{next} has no input {slot} to round.");
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
            Span<float> v = ws.V.Slice(o + c0, cn);
            if (layer == 0)
            {
                v.CopyTo(ws.VFirst.Slice(o + c0, cn));
            }
            else
            {
                Activations.Lerp(v, ws.VFirst.Slice(o + c0, cn), ws.VMix.Slice(o + c0, cn));
            }

            TKernels.KeyPrep(ws.K.Slice(o, d), ws.KK.Slice(o, d), ws.A.Slice(o, d), lw, headStart, headEnd);
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
                    ws.R.Slice(at, HeadSize), ws.W.Slice(at, HeadSize), ws.K.Slice(at, HeadSize), ws.V.Slice(at, HeadSize),
                    ws.KK.Slice(at, HeadSize), ws.A.Slice(at, HeadSize), ws.Y.Slice(at, HeadSize));
            }

            TKernels.HeadOutput(ws.Y.Slice(o, d), ws.R.Slice(o, d), ws.K.Slice(o, d), ws.V.Slice(o, d), ws.G.Slice(o, d), lw, headStart, headEnd);
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
            Products<TKernels>.Int16Product<TPrefetch>(lw.Receptance, ws.Int16Inputs[0], ws.R, d, start, end, accumulate: false);
            Products<TKernels>.Int16Product<TPrefetch>(lw.Key, ws.Int16Inputs[1], ws.K, d, start, end, accumulate: false);
            Products<TKernels>.Int16Product<TPrefetch>(lw.Value, ws.Int16Inputs[2], ws.V, d, start, end, accumulate: false);
        }
        else if (end > start)
        {
            Products<TKernels>.Product<TPrefetch>(lw.Receptance, ws.XR, ws.R, t, d, start, end, accumulate: false);
            Products<TKernels>.Product<TPrefetch>(lw.Key, ws.XK, ws.K, t, d, start, end, accumulate: false);
            Products<TKernels>.Product<TPrefetch>(lw.Value, ws.XV, ws.V, t, d, start, end, accumulate: false);
        }

        // A batch on integer inputs (4-bit matrices: every row summed as its one-token step sums it) runs each session's
        // LoRA MLPs as a one-token step runs them too, so that a row's bits never depend on the batch around it
        // (RwkvModel.BatchRowsMatchForward): the factors are 8-bit, whose several-token products take fp32 inputs.
        bool perRow = step.Int16Inputs && !step.Chained;
        int tokens = perRow ? 1 : t, block = tokens * d;
        for (int o = 0; o < t * d; o += block)
        {
            if (owner[0] == part)
            {
                TKernels.DecayLora<TPrefetch>(ws.XW.Slice(o, block), lw, ws.W.Slice(o, block), ws.LoraScratch(0), tokens);
            }

            if (owner[1] == part)
            {
                TKernels.IclrLora<TPrefetch>(ws.XA.Slice(o, block), lw, ws.A.Slice(o, block), ws.LoraScratch(1), tokens);
            }

            if (owner[2] == part)
            {
                TKernels.GateLora<TPrefetch>(ws.XG.Slice(o, block), lw, ws.G.Slice(o, block), ws.LoraScratch(2), tokens);
            }

            if (hasValue && owner[3] == part)
            {
                TKernels.ValueLora<TPrefetch>(ws.XV.Slice(o, block), lw, ws.VMix.Slice(o, block), ws.LoraScratch(3), tokens);
            }
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

    /// <summary>
    /// The previous token's ln1 (or ln2) output for row n: the row before it in a sequence, or the row's state
    /// (the sequence's first row, or any row in batch mode).
    /// </summary>
    private static ReadOnlySpan<float> Previous(int layer, int n, bool chained, Workspace ws, bool attention)
    {
        if (chained && n > 0)
        {
            int d = TKernels.Embedding;
            return ws.H.Slice((n - 1) * d, d);
        }

        RwkvState s = ws.States[chained ? 0 : n];
        return attention ? s.AttX(layer) : s.FfnX(layer);
    }
}
