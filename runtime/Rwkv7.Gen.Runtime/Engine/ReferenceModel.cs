using System.Numerics.Tensors;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen;

/// <summary>
/// The reference engine: plain C# that runs any shape, written to be read next to the formulas in the fixtures
/// README. It is the oracle of the differential tests and the fallback for shapes without a generated model.
/// Its constants (<see cref="ModelMath"/>) are the ones the generator writes into generated models.
/// </summary>
/// <remarks>
/// Serial mode runs each token through every layer. Sequence mode runs every token through one layer before the
/// next (layer-major), as a batched implementation would; both use the same per-token arithmetic, so they agree
/// exactly. Scratch buffers are allocated per call: simple and thread-safe, not fast.
/// </remarks>
internal sealed class ReferenceModel : RwkvModel
{
    public ReferenceModel(RwkvWeights weights, bool ownsWeights)
        : base(weights, ownsWeights)
    {
    }

    public override string EngineName => "reference";

    /// <inheritdoc />
    /// <remarks>Always: a batch steps each session in turn, as <see cref="RwkvModel.Forward(int, RwkvState, Span{float})"/> does.</remarks>
    public override bool BatchRowsMatchForward => true;

    protected override void StepCore(int token, RwkvState state, Span<float> logits)
    {
        var s = new Scratch(Shape);
        float[] x = new float[Shape.Embedding];
        Embed(token, x);
        for (int i = 0; i < Shape.Layers; i++)
        {
            TimeMix(i, x, s.VFirst, state, s);
            ChannelMix(i, x, state, s);
        }

        if (!logits.IsEmpty)
        {
            Head(x, logits, s);
        }
    }

    protected override void SequenceCore(ReadOnlySpan<int> tokens, RwkvState state, Span<float> logits, bool allRows)
    {
        int t = tokens.Length, c = Shape.Embedding;
        var s = new Scratch(Shape);
        float[] xs = new float[t * c];      // [T][D] residual stream
        float[] vFirst = new float[t * c];  // [T][D] layer 0's values, per token
        for (int n = 0; n < t; n++)
        {
            Embed(tokens[n], xs.AsSpan(n * c, c));
        }

        for (int i = 0; i < Shape.Layers; i++)
        {
            for (int n = 0; n < t; n++)
            {
                TimeMix(i, xs.AsSpan(n * c, c), vFirst.AsSpan(n * c, c), state, s);
            }

            for (int n = 0; n < t; n++)
            {
                ChannelMix(i, xs.AsSpan(n * c, c), state, s);
            }
        }

        int v = Shape.Vocab;
        if (allRows)
        {
            for (int n = 0; n < t; n++)
            {
                Head(xs.AsSpan(n * c, c), logits.Slice(n * v, v), s);
            }
        }
        else if (!logits.IsEmpty)
        {
            Head(xs.AsSpan((t - 1) * c, c), logits, s);
        }
    }

    /// <summary>x = ln0(emb[token]).</summary>
    private void Embed(int token, Span<float> x)
    {
        Weights.Embedding.ReadRow(token, x);
        LayerNorm(x, Weights.Ln0Weight, Weights.Ln0Bias, x);
    }

    /// <summary>logits = head · ln_out(x).</summary>
    private void Head(ReadOnlySpan<float> x, Span<float> logits, Scratch s)
    {
        LayerNorm(x, Weights.LnOutWeight, Weights.LnOutBias, s.H);
        MatVec(Weights.Head, s.H, logits, s.Row);
    }

    /// <summary>The time mix (attention) of layer <paramref name="layer"/> for one token; adds its output to x.</summary>
    private void TimeMix(int layer, Span<float> x, Span<float> vFirst, RwkvState state, Scratch s)
    {
        LayerWeights w = Weights.Layers[layer];
        int c = Shape.Embedding, n = Shape.HeadSize;

        // Token shift: mix this token's ln1 output with the previous token's.
        LayerNorm(x, w.Ln1Weight, w.Ln1Bias, s.H);
        Span<float> previous = state.AttX(layer);
        Lerp(s.H, previous, w.MixR, s.XR);
        Lerp(s.H, previous, w.MixW, s.XW);
        Lerp(s.H, previous, w.MixK, s.XK);
        Lerp(s.H, previous, w.MixV, s.XV);
        Lerp(s.H, previous, w.MixA, s.XA);
        Lerp(s.H, previous, w.MixG, s.XG);
        s.H.CopyTo(previous);

        MatVec(w.Receptance, s.XR, s.R, s.Row);
        MatVec(w.Key, s.XK, s.K, s.Row);
        MatVec(w.Value, s.XV, s.V, s.Row);

        // Decay: w = exp(-e^(-1/2) · sigmoid(w0 + tanh(x_w·W1)·W2)).
        MatVec(w.DecayDown, s.XW, s.LoraDecay, s.Row);
        TensorPrimitives.Tanh(s.LoraDecay, s.LoraDecay);
        MatVec(w.DecayUp, s.LoraDecay, s.W, s.Row);
        for (int i = 0; i < c; i++)
        {
            s.W[i] = MathF.Exp(-ModelMath.DecayScale * Sigmoid(w.DecayBias[i] + s.W[i]));
        }

        // In-context learning rate: a = sigmoid(a0 + (x_a·A1)·A2).
        MatVec(w.IclrDown, s.XA, s.LoraIclr, s.Row);
        MatVec(w.IclrUp, s.LoraIclr, s.A, s.Row);
        for (int i = 0; i < c; i++)
        {
            s.A[i] = Sigmoid(w.IclrBias[i] + s.A[i]);
        }

        // Output gate: g = sigmoid(x_g·G1)·G2.
        MatVec(w.GateDown, s.XG, s.LoraGate, s.Row);
        TensorPrimitives.Sigmoid(s.LoraGate, s.LoraGate);
        MatVec(w.GateUp, s.LoraGate, s.G, s.Row);

        // Removal key kk = normalize(k · k_k) per head; then k = k · (1 + (a - 1) · k_a).
        for (int i = 0; i < c; i++)
        {
            s.KK[i] = s.K[i] * w.KeyK[i];
        }

        for (int h = 0; h < Shape.Heads; h++)
        {
            Span<float> kk = s.KK.AsSpan(h * n, n);
            float norm = MathF.Max(TensorPrimitives.Norm(kk), ModelMath.NormFloor);
            TensorPrimitives.Divide(kk, norm, kk);
        }

        for (int i = 0; i < c; i++)
        {
            s.K[i] *= 1 + ((s.A[i] - 1) * w.KeyA[i]);
        }

        // Value residual: layer 0 defines v_first; later layers pull v towards it.
        if (layer == 0)
        {
            s.V.CopyTo(vFirst);
        }
        else
        {
            MatVec(w.ValueDown, s.XV, s.LoraValue, s.Row);
            MatVec(w.ValueUp, s.LoraValue, s.Y, s.Row);
            for (int i = 0; i < c; i++)
            {
                s.V[i] += (vFirst[i] - s.V[i]) * Sigmoid(w.ValueBias[i] + s.Y[i]);
            }
        }

        for (int h = 0; h < Shape.Heads; h++)
        {
            int o = h * n;
            WkvHead(
                state.WkvHead(layer, h),
                s.R.AsSpan(o, n), s.W.AsSpan(o, n), s.K.AsSpan(o, n), s.V.AsSpan(o, n),
                s.KK.AsSpan(o, n), s.A.AsSpan(o, n), s.Y.AsSpan(o, n));

            // GroupNorm of the head's output, then the bonus term (r · k · r_k summed over the head) · v.
            Span<float> y = s.Y.AsSpan(o, n);
            LayerNorm(y, w.LnXWeight.AsSpan(o, n), w.LnXBias.AsSpan(o, n), y, ModelMath.GroupNormEps);
            float bonus = 0;
            for (int j = 0; j < n; j++)
            {
                bonus += s.R[o + j] * s.K[o + j] * w.BonusRK[o + j];
            }

            for (int j = 0; j < n; j++)
            {
                y[j] += bonus * s.V[o + j];
            }
        }

        // x += O · (y · g).
        TensorPrimitives.Multiply(s.Y, s.G, s.Y);
        MatVec(w.Output, s.Y, s.Out, s.Row);
        TensorPrimitives.Add(x, s.Out, x);
    }

    /// <summary>
    /// One head's WKV-7 step. With S[i][j] (value i, key j) stored key-major as st[j][i]:
    /// S' = S·diag(w) − (S·kk)(kk·a)ᵀ + v·kᵀ, then y = S'·r. Every S on the right is the previous state.
    /// </summary>
    private static void WkvHead(
        Span<float> st, ReadOnlySpan<float> r, ReadOnlySpan<float> w, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> kk, ReadOnlySpan<float> a, Span<float> y)
    {
        int n = r.Length;
        Span<float> sa = stackalloc float[n]; // S·kk, one entry per value channel
        for (int i = 0; i < n; i++)
        {
            float sum = 0;
            for (int j = 0; j < n; j++)
            {
                sum += st[(j * n) + i] * kk[j];
            }

            sa[i] = sum;
        }

        for (int i = 0; i < n; i++)
        {
            float sum = 0;
            for (int j = 0; j < n; j++)
            {
                ref float sij = ref st[(j * n) + i];
                sij = (sij * w[j]) - (sa[i] * kk[j] * a[j]) + (v[i] * k[j]);
                sum += sij * r[j];
            }

            y[i] = sum;
        }
    }

    /// <summary>The channel mix (FFN) of layer <paramref name="layer"/> for one token; adds its output to x.</summary>
    private void ChannelMix(int layer, Span<float> x, RwkvState state, Scratch s)
    {
        LayerWeights w = Weights.Layers[layer];
        LayerNorm(x, w.Ln2Weight, w.Ln2Bias, s.H);
        Span<float> previous = state.FfnX(layer);
        Lerp(s.H, previous, w.FfnMixK, s.XK);
        s.H.CopyTo(previous);

        // x += Wv · relu(Wk · x_k)².
        MatVec(w.FfnKey, s.XK, s.Hidden, s.Row);
        for (int i = 0; i < s.Hidden.Length; i++)
        {
            s.Hidden[i] = ModelMath.SquaredRelu(s.Hidden[i]);
        }

        MatVec(w.FfnValue, s.Hidden, s.Out, s.Row);
        TensorPrimitives.Add(x, s.Out, x);
    }

    /// <summary>y = W · x, converting each row of W to fp32 and accumulating in fp32.</summary>
    private static void MatVec(WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, float[] row)
    {
        Span<float> r = row.AsSpan(0, w.Cols);
        for (int o = 0; o < w.Rows; o++)
        {
            w.ReadRow(o, r);
            y[o] = TensorPrimitives.Dot(r, x);
        }
    }

    /// <summary>out = h + (previous − h) · mix (token shift).</summary>
    private static void Lerp(ReadOnlySpan<float> h, ReadOnlySpan<float> previous, ReadOnlySpan<float> mix, Span<float> result)
    {
        for (int i = 0; i < h.Length; i++)
        {
            result[i] = h[i] + ((previous[i] - h[i]) * mix[i]);
        }
    }

    /// <summary>LayerNorm with biased variance; <paramref name="y"/> may alias <paramref name="x"/>.</summary>
    private static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, float eps = ModelMath.LayerNormEps)
    {
        float mean = TensorPrimitives.Sum(x) / x.Length;
        float variance = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float d = x[i] - mean;
            variance += d * d;
        }

        variance /= x.Length;
        float inv = 1 / MathF.Sqrt(variance + eps);
        for (int i = 0; i < x.Length; i++)
        {
            y[i] = ((x[i] - mean) * inv * weight[i]) + bias[i];
        }
    }

    private static float Sigmoid(float x) => 1 / (1 + MathF.Exp(-x));

    /// <summary>Per-call working memory.</summary>
    private sealed class Scratch
    {
        public Scratch(ModelShape shape)
        {
            int c = shape.Embedding;
            H = new float[c];
            XR = new float[c]; XW = new float[c]; XK = new float[c]; XV = new float[c]; XA = new float[c]; XG = new float[c];
            R = new float[c]; W = new float[c]; K = new float[c]; V = new float[c]; A = new float[c]; G = new float[c];
            KK = new float[c]; Y = new float[c]; Out = new float[c]; VFirst = new float[c];
            LoraDecay = new float[shape.DecayRank];
            LoraIclr = new float[shape.IclrRank];
            LoraValue = new float[shape.ValueRank];
            LoraGate = new float[shape.GateRank];
            Hidden = new float[shape.Ffn];
            Row = new float[Math.Max(Math.Max(c, shape.Ffn), 64)];
        }

        public float[] H { get; }
        public float[] XR { get; }
        public float[] XW { get; }
        public float[] XK { get; }
        public float[] XV { get; }
        public float[] XA { get; }
        public float[] XG { get; }
        public float[] R { get; }
        public float[] W { get; }
        public float[] K { get; }
        public float[] V { get; }
        public float[] A { get; }
        public float[] G { get; }
        public float[] KK { get; }
        public float[] Y { get; }
        public float[] Out { get; }
        public float[] VFirst { get; }
        public float[] LoraDecay { get; }
        public float[] LoraIclr { get; }
        public float[] LoraValue { get; }
        public float[] LoraGate { get; }
        public float[] Hidden { get; }
        public float[] Row { get; }
    }
}
