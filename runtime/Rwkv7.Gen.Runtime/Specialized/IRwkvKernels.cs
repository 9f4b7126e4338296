using System.ComponentModel;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// The kernels a generated model provides, written by the Rwkv7.Gen source generator for one set of layer widths
/// (embedding, heads, FFN width and LoRA ranks are constants inside every implementation). The orchestration that
/// calls them, <see cref="SpecializedModel{TKernels}"/>, is shared by every generated model.
/// </summary>
/// <remarks>
/// Every method that streams weights is generic over the prefetch policy (<see cref="IWeightPrefetch"/>) that the
/// engine picked for the processor; instantiating it is the only difference between the policies.
/// Activations are row-major [T][width] blocks of T tokens (T = 1 when decoding one token). Every method checks
/// nothing: the orchestrator has validated sizes once, when the model was bound to its weights.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IRwkvKernels
{
    /// <summary>Embedding width D.</summary>
    static abstract int Embedding { get; }

    /// <summary>Number of heads H (D / 64).</summary>
    static abstract int Heads { get; }

    /// <summary>Channel-mix hidden width.</summary>
    static abstract int Ffn { get; }

    /// <summary>Decay LoRA rank.</summary>
    static abstract int DecayRank { get; }

    /// <summary>In-context learning rate LoRA rank.</summary>
    static abstract int IclrRank { get; }

    /// <summary>Value-residual LoRA rank.</summary>
    static abstract int ValueRank { get; }

    /// <summary>Gate LoRA rank.</summary>
    static abstract int GateRank { get; }

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for T tokens: x is [T][W.Cols],
    /// y is [T][<paramref name="yStride"/>]; adds into y when <paramref name="accumulate"/> is set.
    /// </summary>
    static abstract void MatMul<TPrefetch>(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch;

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for one token, W 8-bit and x rounded to
    /// 16 bits by <see cref="Int16Activations.Quantize"/> (x [W.Cols] int16, <paramref name="xScales"/> one per
    /// block): the one-token products of 8-bit decode. Adds into y when <paramref name="accumulate"/> is set.
    /// </summary>
    static abstract void MatMulQ8Int16<TPrefetch>(in WeightMatrix w, ReadOnlySpan<short> x, ReadOnlySpan<float> xScales, Span<float> y, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch;

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of the channel-mix hidden layer,
    /// relu(K·x)², for T tokens: x is [T][D], hidden is [T][FFN].
    /// </summary>
    static abstract void FfnHidden<TPrefetch>(in WeightMatrix key, ReadOnlySpan<float> x, Span<float> hidden, int tokens, int rowStart, int rowEnd)
        where TPrefetch : struct, IWeightPrefetch;

    /// <summary>LayerNorm of one row of D (eps 1e-5); <paramref name="y"/> may alias <paramref name="x"/>.</summary>
    static abstract void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y);

    /// <summary>The six token-shift mixes of the time mix for one token: x_m = h + (previous − h)·mix_m.</summary>
    static abstract void TimeMixInputs(ReadOnlySpan<float> h, ReadOnlySpan<float> previous, LayerWeights layer, Span<float> xr, Span<float> xw, Span<float> xk, Span<float> xv, Span<float> xa, Span<float> xg);

    /// <summary>The channel-mix token shift for one token: x_k = h + (previous − h)·ffn.x_k.</summary>
    static abstract void ChannelMixInput(ReadOnlySpan<float> h, ReadOnlySpan<float> previous, LayerWeights layer, Span<float> xk);

    /// <summary>
    /// Decay LoRA MLP for T tokens: w = exp(−e^(−1/2)·sigmoid(w0 + tanh(x_w·W1)·W2)); x_w and w are [T][D],
    /// scratch holds at least T × rank floats. With one token, a factor with 8-bit weights reads its input rounded to
    /// 16 bits (<see cref="MatMulQ8Int16"/>) where the model has that input width's kernel; so do the other LoRAs.
    /// </summary>
    static abstract void DecayLora<TPrefetch>(ReadOnlySpan<float> xw, LayerWeights layer, Span<float> w, Span<float> scratch, int tokens)
        where TPrefetch : struct, IWeightPrefetch;

    /// <summary>In-context learning rate LoRA MLP for T tokens: a = sigmoid(a0 + (x_a·A1)·A2).</summary>
    static abstract void IclrLora<TPrefetch>(ReadOnlySpan<float> xa, LayerWeights layer, Span<float> a, Span<float> scratch, int tokens)
        where TPrefetch : struct, IWeightPrefetch;

    /// <summary>Output gate LoRA MLP for T tokens: g = sigmoid(x_g·G1)·G2.</summary>
    static abstract void GateLora<TPrefetch>(ReadOnlySpan<float> xg, LayerWeights layer, Span<float> g, Span<float> scratch, int tokens)
        where TPrefetch : struct, IWeightPrefetch;

    /// <summary>
    /// Value-residual LoRA MLP for T tokens (layers ≥ 1): mix = sigmoid(v0 + (x_v·V1)·V2). The caller then pulls
    /// v towards layer 0's values: v += (v_first − v)·mix.
    /// </summary>
    static abstract void ValueLora<TPrefetch>(ReadOnlySpan<float> xv, LayerWeights layer, Span<float> mix, Span<float> scratch, int tokens)
        where TPrefetch : struct, IWeightPrefetch;

    /// <summary>
    /// For heads [<paramref name="headStart"/>, <paramref name="headEnd"/>) of one token (spans are the token's whole
    /// D-wide rows): kk = per-head L2-normalized k·k_k; then k = k·(1 + (a − 1)·k_a).
    /// </summary>
    static abstract void KeyPrep(Span<float> k, Span<float> kk, ReadOnlySpan<float> a, LayerWeights layer, int headStart, int headEnd);

    /// <summary>
    /// One head's WKV-7 step on its 64×64 state (stored key-major, [j][i]):
    /// S' = S·diag(w) − (S·kk)(kk·a)ᵀ + v·kᵀ, then y = S'·r. All vectors are the head's 64 channels.
    /// </summary>
    static abstract void Wkv(Span<float> state, ReadOnlySpan<float> r, ReadOnlySpan<float> w, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> kk, ReadOnlySpan<float> a, Span<float> y);

    /// <summary>
    /// The time-mix output of heads [<paramref name="headStart"/>, <paramref name="headEnd"/>) of one token before the
    /// output projection (spans are D-wide rows): GroupNorm of y (eps 64e-5) with ln_x, plus the bonus
    /// (Σ r·k·r_k)·v, times the gate g. Writes into y.
    /// </summary>
    static abstract void HeadOutput(Span<float> y, ReadOnlySpan<float> r, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> g, LayerWeights layer, int headStart, int headEnd);
}
