using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// The engine behind every generated model: the order of operations of an RWKV-7 forward pass, written once,
/// calling the kernels that the source generator specialized for one set of layer widths (<typeparamref name="TKernels"/>).
/// Depth and vocabulary are loop bounds here, so one generated type runs any checkpoint with its layer widths.
/// </summary>
/// <remarks>
/// Tokens are processed in blocks of up to <see cref="BlockTokens"/>: within a block every layer handles all of the
/// block's tokens before the next layer starts (so matrix products see several tokens at once), while the WKV
/// recurrence and the token shifts stay sequential per token.
/// </remarks>
/// <typeparam name="TKernels">The generated kernels.</typeparam>
public abstract class SpecializedModel<TKernels> : RwkvModel
    where TKernels : struct, IRwkvKernels
{
    /// <summary>Tokens processed together in sequence mode.</summary>
    public const int BlockTokens = 32;

    private const int HeadSize = ModelShape.SupportedHeadSize;

    private readonly string _engineName;
    private readonly WorkspacePool _workspaces;

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
    }

    /// <inheritdoc />
    public override string EngineName => _engineName;

    /// <inheritdoc />
    protected override void StepCore(int token, RwkvState state, Span<float> logits)
    {
        Workspace ws = _workspaces.Rent();
        try
        {
            RunBlock([token], state, logits, allRows: false, ws);
        }
        finally
        {
            _workspaces.Return(ws);
        }
    }

    /// <inheritdoc />
    protected override void SequenceCore(ReadOnlySpan<int> tokens, RwkvState state, Span<float> logits, bool allRows)
    {
        Workspace ws = _workspaces.Rent();
        try
        {
            int v = Shape.Vocab;
            for (int start = 0; start < tokens.Length; start += BlockTokens)
            {
                int count = Math.Min(BlockTokens, tokens.Length - start);
                bool last = start + count == tokens.Length;
                Span<float> blockLogits = allRows ? logits.Slice(start * v, count * v) : last ? logits : [];
                RunBlock(tokens.Slice(start, count), state, blockLogits, allRows, ws);
            }
        }
        finally
        {
            _workspaces.Return(ws);
        }
    }

    /// <summary>Runs up to <see cref="BlockTokens"/> consecutive tokens of one sequence through the whole model.</summary>
    private void RunBlock(ReadOnlySpan<int> tokens, RwkvState state, Span<float> logits, bool allRows, Workspace ws)
    {
        int t = tokens.Length, d = TKernels.Embedding;
        for (int n = 0; n < t; n++)
        {
            Span<float> x = ws.X.AsSpan(n * d, d);
            Weights.Embedding.ReadRow(tokens[n], x);
            TKernels.LayerNorm(x, Weights.Ln0Weight, Weights.Ln0Bias, x);
        }

        for (int layer = 0; layer < Shape.Layers; layer++)
        {
            TimeMix(layer, t, state, ws);
            ChannelMix(layer, t, state, ws);
        }

        if (logits.IsEmpty)
        {
            return;
        }

        int v = Shape.Vocab;
        if (allRows)
        {
            for (int n = 0; n < t; n++)
            {
                TKernels.LayerNorm(ws.X.AsSpan(n * d, d), Weights.LnOutWeight, Weights.LnOutBias, ws.H.AsSpan(n * d, d));
            }

            TKernels.MatMul(Weights.Head, ws.H, logits, t, v, 0, v, accumulate: false);
        }
        else
        {
            TKernels.LayerNorm(ws.X.AsSpan((t - 1) * d, d), Weights.LnOutWeight, Weights.LnOutBias, ws.H.AsSpan(0, d));
            TKernels.MatMul(Weights.Head, ws.H, logits, 1, v, 0, v, accumulate: false);
        }
    }

    private void TimeMix(int layer, int t, RwkvState state, Workspace ws)
    {
        LayerWeights lw = Weights.Layers[layer];
        int d = TKernels.Embedding;

        for (int n = 0; n < t; n++)
        {
            TKernels.LayerNorm(ws.X.AsSpan(n * d, d), lw.Ln1Weight, lw.Ln1Bias, ws.H.AsSpan(n * d, d));
        }

        for (int n = 0; n < t; n++)
        {
            ReadOnlySpan<float> previous = n == 0 ? state.AttX(layer) : ws.H.AsSpan((n - 1) * d, d);
            TKernels.TimeMixInputs(
                ws.H.AsSpan(n * d, d), previous, lw,
                ws.XR.AsSpan(n * d, d), ws.XW.AsSpan(n * d, d), ws.XK.AsSpan(n * d, d),
                ws.XV.AsSpan(n * d, d), ws.XA.AsSpan(n * d, d), ws.XG.AsSpan(n * d, d));
        }

        ws.H.AsSpan((t - 1) * d, d).CopyTo(state.AttX(layer));

        TKernels.MatMul(lw.Receptance, ws.XR, ws.R, t, d, 0, d, accumulate: false);
        TKernels.MatMul(lw.Key, ws.XK, ws.K, t, d, 0, d, accumulate: false);
        TKernels.MatMul(lw.Value, ws.XV, ws.V, t, d, 0, d, accumulate: false);

        for (int n = 0; n < t; n++)
        {
            int o = n * d;
            TKernels.DecayLora(ws.XW.AsSpan(o, d), lw, ws.W.AsSpan(o, d), ws.LoraScratch);
            TKernels.IclrLora(ws.XA.AsSpan(o, d), lw, ws.A.AsSpan(o, d), ws.LoraScratch);
            TKernels.GateLora(ws.XG.AsSpan(o, d), lw, ws.G.AsSpan(o, d), ws.LoraScratch);
            if (layer == 0)
            {
                ws.V.AsSpan(o, d).CopyTo(ws.VFirst.AsSpan(o, d));
            }
            else
            {
                TKernels.ValueLora(ws.XV.AsSpan(o, d), lw, ws.V.AsSpan(o, d), ws.VFirst.AsSpan(o, d), ws.LoraScratch);
            }

            TKernels.KeyPrep(ws.K.AsSpan(o, d), ws.KK.AsSpan(o, d), ws.A.AsSpan(o, d), lw);
        }

        Span<float> wkv = state.Wkv(layer);
        int area = HeadSize * HeadSize;
        for (int n = 0; n < t; n++)
        {
            for (int h = 0; h < TKernels.Heads; h++)
            {
                int o = (n * d) + (h * HeadSize);
                TKernels.Wkv(
                    wkv.Slice(h * area, area),
                    ws.R.AsSpan(o, HeadSize), ws.W.AsSpan(o, HeadSize), ws.K.AsSpan(o, HeadSize), ws.V.AsSpan(o, HeadSize),
                    ws.KK.AsSpan(o, HeadSize), ws.A.AsSpan(o, HeadSize), ws.Y.AsSpan(o, HeadSize));
            }

            int row = n * d;
            TKernels.HeadOutput(ws.Y.AsSpan(row, d), ws.R.AsSpan(row, d), ws.K.AsSpan(row, d), ws.V.AsSpan(row, d), ws.G.AsSpan(row, d), lw);
        }

        TKernels.MatMul(lw.Output, ws.Y, ws.X, t, d, 0, d, accumulate: true);
    }

    private void ChannelMix(int layer, int t, RwkvState state, Workspace ws)
    {
        LayerWeights lw = Weights.Layers[layer];
        int d = TKernels.Embedding;

        for (int n = 0; n < t; n++)
        {
            TKernels.LayerNorm(ws.X.AsSpan(n * d, d), lw.Ln2Weight, lw.Ln2Bias, ws.H.AsSpan(n * d, d));
        }

        for (int n = 0; n < t; n++)
        {
            ReadOnlySpan<float> previous = n == 0 ? state.FfnX(layer) : ws.H.AsSpan((n - 1) * d, d);
            TKernels.ChannelMixInput(ws.H.AsSpan(n * d, d), previous, lw, ws.XK.AsSpan(n * d, d));
        }

        ws.H.AsSpan((t - 1) * d, d).CopyTo(state.FfnX(layer));

        TKernels.FfnHidden(lw.FfnKey, ws.XK, ws.Hidden, t, 0, TKernels.Ffn);
        TKernels.MatMul(lw.FfnValue, ws.Hidden, ws.X, t, d, 0, d, accumulate: true);
    }
}
