using System.Runtime.InteropServices;
using ILGPU;

namespace Rwkv7.Gen.Gpu.Kernels;

// Arguments of the generated kernels, one struct per kernel family (ILGPU passes structs of views by value).
//
// Activations are blocks of rows: [rows][width] floats, row-major. Rows form runs: [runs][RunLength], where run r
// belongs to session (state slot) r of the state view passed in. Decoding a batch of sessions is runs = B, RunLength
// = 1; prefilling one sequence is runs = 1, RunLength = T. Tokens of one run are consecutive tokens of one sequence:
// token shift and the WKV recurrence read the previous row of the same run, or the state for a run's first row.
//
// Weights are views of uint: either packed bf16 pairs (element 2q in the low half, 2q+1 in the high half) or fp32
// bit patterns, depending on the kernel variant (suffix Bf16 or F32). Matrices are (out, in), row-major.

/// <summary>How a product's result is written.</summary>
public static class Epilogue
{
    /// <summary>y = W·x.</summary>
    public const int Store = 0;

    /// <summary>y += W·x (residual add).</summary>
    public const int Accumulate = 1;

    /// <summary>y = relu(W·x)² (channel-mix hidden layer).</summary>
    public const int ReluSquared = 2;
}

/// <summary>Arguments of <c>Embed</c>: x[m] = ln0(emb[tokens[m]]).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EmbedArgs
{
    /// <summary>[rows] token ids.</summary>
    public ArrayView<int> Tokens;

    /// <summary>[V][D] embedding table.</summary>
    public ArrayView<uint> Embedding;

    /// <summary>[D] ln0 scale and bias.</summary>
    public ArrayView<float> LnWeight;

    /// <inheritdoc cref="LnWeight"/>
    public ArrayView<float> LnBias;

    /// <summary>[rows][D] residual stream (written).</summary>
    public ArrayView<float> X;

    /// <summary>Number of rows.</summary>
    public int Rows;
}

/// <summary>
/// Arguments of <c>TimeMixInput</c> and <c>ChannelMixInput</c>: h = LayerNorm(x[m]); previous = the run's previous
/// row's h, or the state's token-shift vector for a run's first row; out[p][m] = h + (previous − h)·mix[p] for
/// each plane p. The group of a run's first row also stores the run's last h into the state.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct TokenShiftArgs
{
    /// <summary>[rows][D] residual stream.</summary>
    public ArrayView<float> X;

    /// <summary>[D] LayerNorm scale and bias (ln1 or ln2).</summary>
    public ArrayView<float> LnWeight;

    /// <inheritdoc cref="LnWeight"/>
    public ArrayView<float> LnBias;

    /// <summary>[planes][D] mix coefficients (time mix: r, k, v, w, a, g; channel mix: k).</summary>
    public ArrayView<float> Mix;

    /// <summary>The state of the sessions the runs belong to.</summary>
    public ArrayView<float> State;

    /// <summary>Offset in <see cref="State"/> of run 0's token-shift vector (att_x or ffn_x) of this layer.</summary>
    public long ShiftOffset;

    /// <summary>Floats between two sessions' states.</summary>
    public long SessionStride;

    /// <summary>[planes][PlaneStride] outputs; plane p holds [rows][D] from p·PlaneStride.</summary>
    public ArrayView<float> Out;

    /// <summary>Floats between two output planes.</summary>
    public int PlaneStride;

    /// <summary>Number of rows.</summary>
    public int Rows;

    /// <summary>Rows per run.</summary>
    public int RunLength;
}

/// <summary>
/// Arguments of the products: y[m][o] = epilogue(Σ_k W[o][k]·x[m][k]) for m &lt; Tokens, o &lt; OutRows. A group of
/// G threads computes G / LanesPerRow output rows; the lanes of one row split its inputs and add their partial sums
/// through shared memory (no barrier at all when LanesPerRow = 1).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct MatMulArgs
{
    /// <summary>[OutRows][K] weights.</summary>
    public ArrayView<uint> W;

    /// <summary>[Tokens][XStride] inputs; the time-mix projections read one plane of [planes][XPlaneStride] per segment of rows.</summary>
    public ArrayView<float> X;

    /// <summary>Floats between two tokens' inputs.</summary>
    public int XStride;

    /// <summary>Floats between two input planes (time-mix projections only).</summary>
    public int XPlaneStride;

    /// <summary>[Tokens][YStride] outputs.</summary>
    public ArrayView<float> Y;

    /// <summary>Floats between two tokens' outputs.</summary>
    public int YStride;

    /// <summary>[Tokens][D] layer 0's values, written by the time-mix projections when <see cref="StoreVFirst"/> is 1.</summary>
    public ArrayView<float> VFirst;

    /// <summary>1 in layer 0: the value rows are also stored as v_first.</summary>
    public int StoreVFirst;

    /// <summary>Number of tokens (rows of x and y).</summary>
    public int Tokens;

    /// <summary>Number of output rows computed.</summary>
    public int OutRows;

    /// <summary>One of <see cref="Kernels.Epilogue"/>'s constants.</summary>
    public int Epilogue;

    /// <summary>Threads that share one output row (1, or a power of two up to the group size).</summary>
    public int LanesPerRow;
}

/// <summary>
/// Arguments of <c>LoraUp</c>: the four LoRA up-projections with their activations, reading the hidden vectors the
/// time-mix projections wrote into P and writing Q = [w | a | g | v] per token.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct LoraUpArgs
{
    /// <summary>W2 [D][rank_w], A2 [D][rank_a], G2 [D][rank_g], V2 [D][rank_v], back to back.</summary>
    public ArrayView<uint> W;

    /// <summary>[Tokens][PStride] time-mix projections: r | k | v | decay, iclr, gate, value hidden vectors.</summary>
    public ArrayView<float> P;

    /// <summary>Floats per token in <see cref="P"/>.</summary>
    public int PStride;

    /// <summary>[Tokens][D] layer 0's values.</summary>
    public ArrayView<float> VFirst;

    /// <summary>[4][D] biases: w0 | a0 | (unused) | v0.</summary>
    public ArrayView<float> Bias;

    /// <summary>[Tokens][4·D] outputs: decay w | in-context rate a | gate g | mixed value v.</summary>
    public ArrayView<float> Q;

    /// <summary>Number of tokens.</summary>
    public int Tokens;

    /// <summary>3·D in layer 0 (no value residual), else 4·D.</summary>
    public int OutRows;

    /// <summary>Threads that share one output row.</summary>
    public int LanesPerRow;
}

/// <summary>
/// Arguments of <c>Wkv</c>: for each run and head (one group of 64 threads, thread i owning value channel i), every
/// token of the run in order: kk normalization, the WKV-7 state update, y = S·r, GroupNorm with ln_x, the bonus
/// (Σ r·k·r_k)·v and the gate: Y[m] = (GroupNorm(y) + bonus·v)·g.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct WkvArgs
{
    /// <summary>[Tokens][PStride] time-mix projections (r at 0, k at D).</summary>
    public ArrayView<float> P;

    /// <summary>Floats per token in <see cref="P"/>.</summary>
    public int PStride;

    /// <summary>[Tokens][4·D] LoRA outputs (w at 0, a at D, g at 2·D).</summary>
    public ArrayView<float> Q;

    /// <summary>The values: layer 0 reads P at 2·D, later layers Q at 3·D.</summary>
    public ArrayView<float> V;

    /// <summary>Floats per token in <see cref="V"/>.</summary>
    public int VStride;

    /// <summary>[5][D] per-layer vectors: k_k | k_a | r_k | ln_x.weight | ln_x.bias.</summary>
    public ArrayView<float> HeadVectors;

    /// <summary>The state of the sessions the runs belong to.</summary>
    public ArrayView<float> State;

    /// <summary>Offset in <see cref="State"/> of run 0's WKV matrices of this layer ([H][j][i]).</summary>
    public long WkvOffset;

    /// <summary>Floats between two sessions' states.</summary>
    public long SessionStride;

    /// <summary>[Tokens][D] output, before the output projection.</summary>
    public ArrayView<float> Y;

    /// <summary>Rows per run.</summary>
    public int RunLength;
}

/// <summary>
/// Arguments of <c>FinalNorm</c>: out[m] = ln_out(x[src]), where src = m when <see cref="AllRows"/> is 1, else the
/// last row of run m.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct FinalNormArgs
{
    /// <summary>[rows][D] residual stream.</summary>
    public ArrayView<float> X;

    /// <summary>[D] ln_out scale and bias.</summary>
    public ArrayView<float> LnWeight;

    /// <inheritdoc cref="LnWeight"/>
    public ArrayView<float> LnBias;

    /// <summary>[Rows][D] normalized rows.</summary>
    public ArrayView<float> Out;

    /// <summary>Output rows.</summary>
    public int Rows;

    /// <summary>Rows per run of <see cref="X"/>.</summary>
    public int RunLength;

    /// <summary>1: every row; 0: the last row of each run.</summary>
    public int AllRows;
}

/// <summary>Arguments of <c>Argmax</c>: out[m] = the index of the largest of logits[m][0..Vocab) (first on ties).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ArgmaxArgs
{
    /// <summary>[Rows][Vocab] logits.</summary>
    public ArrayView<float> Logits;

    /// <summary>[Rows] chosen token ids.</summary>
    public ArrayView<int> Out;

    /// <summary>Vocabulary size (row length).</summary>
    public int Vocab;

    /// <summary>Number of rows.</summary>
    public int Rows;
}
