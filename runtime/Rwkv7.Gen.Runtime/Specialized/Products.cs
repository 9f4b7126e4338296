using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Which kernel computes a product, by weight type and token count, in one place:
/// <list type="table">
/// <listheader><term>weights</term><description>one token (decode) · several tokens (prefill, batches)</description></listheader>
/// <item><term>bf16, fp32</term><description>the generated tiles (<see cref="IRwkvKernels.MatMul{TPrefetch}"/>) · the same, multi-token tiles</description></item>
/// <item><term>8-bit</term><description>inputs rounded to 16 bits, the generated integer kernel (<see cref="IRwkvKernels.MatMulQ8Int16{TPrefetch}"/>) · the generated tiles</description></item>
/// <item><term>4-bit</term><description>inputs rounded to 16 bits, then to 8 when arranged, <see cref="Q4Kernels"/>'s integer products · the same for a batch's rows and short sequences (<see cref="CpuTuning.Int16SequenceTokens512"/>); longer sequences' rows widened into the generated fp32 tiles</description></item>
/// <item><term>fp16</term><description>the generated entry's width-generic fallback (<see cref="KernelFallbacks"/>) · rows widened into the generated fp32 tiles</description></item>
/// </list>
/// A step whose products read 16-bit inputs (<see cref="UsesInt16Inputs"/>) has them rounded once for all of its parts
/// (<see cref="Benchmarking.ModelStep.InputRounding"/>) and then calls <see cref="Int16Product{TPrefetch}"/>; every other product
/// goes through <see cref="Product{TPrefetch}"/>.
/// </summary>
/// <typeparam name="TKernels">The generated kernels.</typeparam>
internal static unsafe class Products<TKernels>
    where TKernels : struct, IRwkvKernels
{
    /// <summary>Bytes of fp32 rows <see cref="WidenedProduct{TPrefetch}"/> widens at a time: a few row tiles of 6, in L2.</summary>
    private const int WidenedChunkBytes = 144 << 10;

    /// <summary>Each thread's fp32 rows for <see cref="WidenedProduct{TPrefetch}"/> (pinned: the weight matrix over it is a pointer).</summary>
    [ThreadStatic]
    private static float[]? t_widenedRows;

    /// <summary>Whether one-token products of <paramref name="matrix"/> read 16-bit inputs: 8- and 4-bit matrices.</summary>
    public static bool TakesInt16Inputs(in WeightMatrix matrix) => matrix.Type is TensorDType.Q8 or TensorDType.Q4;

    /// <summary>
    /// Whether a product of <paramref name="matrix"/> for <paramref name="tokens"/> rows reads 16-bit inputs: one token of
    /// an 8- or 4-bit matrix; for a 4-bit one, also the rows of a batch (<paramref name="chained"/> false: one token of
    /// each of several sessions) and a sequence's rows (prefill) up to <paramref name="sequenceTokens"/>, each row then
    /// summed as a one-token step sums it
    /// (<see cref="Q4Kernels.MatMulInt8{TPrefetch}(in WeightMatrix, Int16Input, Span{float}, int, int, int, bool)"/>).
    /// Longer sequences keep fp32 inputs and the widened rows, which the FMAs make faster.
    /// </summary>
    public static bool UsesInt16Inputs(in WeightMatrix matrix, int tokens, bool chained, int sequenceTokens)
    {
        return tokens == 1 ? TakesInt16Inputs(matrix) : matrix.Type == TensorDType.Q4 && (!chained || tokens <= sequenceTokens);
    }

    /// <summary>
    /// Whether every row of a batch gets the bits its one-token step gets: when every matrix product a batch runs on
    /// several rows sums each row as a one-token product does. So it is for 4-bit matrices (integer inputs, every row
    /// summed alone: <see cref="UsesInt16Inputs"/>), with the LoRA MLPs (8-bit factors) run one session at a time
    /// (<see cref="ModelSteps{TKernels}"/>, step 1). The other products' several-token tiles add in another order.
    /// </summary>
    public static bool BatchRowsMatchOneTokenSteps(RwkvWeights weights)
    {
        if (weights.Head.Type != TensorDType.Q4)
        {
            return false;
        }

        foreach (LayerWeights lw in weights.Layers)
        {
            foreach (WeightMatrix m in (ReadOnlySpan<WeightMatrix>)[lw.Receptance, lw.Key, lw.Value, lw.Output, lw.FfnKey, lw.FfnValue])
            {
                if (m.Type != TensorDType.Q4)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>The sequence length up to which 4-bit products read 16-bit inputs at the width the kernels take (<see cref="Q4Kernels.StepBlocks"/>).</summary>
    public static int Int16SequenceTokens(CpuTuning tuning) => Q4Kernels.StepBlocks switch
    {
        4 => tuning.Int16SequenceTokens512,
        2 => tuning.Int16SequenceTokens256,
        _ => 0,
    };

    /// <summary>
    /// A product with 16-bit inputs: the generated 8-bit kernel (one token) or the 4-bit one (token t's outputs at
    /// t · <paramref name="yStride"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Int16Product<TPrefetch>(in WeightMatrix w, Int16Input x, Span<float> y, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        if (w.Type == TensorDType.Q4)
        {
            Q4Kernels.MatMulInt8<TPrefetch>(w, x, y, yStride, rowStart, rowEnd, accumulate);
        }
        else if (x.Tokens == 1)
        {
            TKernels.MatMulQ8Int16<TPrefetch>(w, x.Values[..x.Length], x.Scales, y, rowStart, rowEnd, accumulate);
        }
        else
        {
            // UsesInt16Inputs never asks for this; computing token 0 alone would be a silent wrong answer.
            throw new ArgumentException($"16-bit inputs of {x.Tokens} tokens reach only 4-bit products; this matrix holds {w.Type.DisplayName()}.", nameof(x));
        }
    }

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of y = W·x for T tokens with fp32 inputs: the
    /// generated product, except for 4-bit matrices and, with several tokens, fp16 ones (see <see cref="Widens"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Product<TPrefetch>(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)
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
    /// Whether a product of <paramref name="w"/> widens its rows to fp32 a chunk at a time (<see cref="WidenedChunkBytes"/>,
    /// in a per-thread buffer) and multiplies them with the generated fp32 tiles, paying the widening once per row for
    /// all of the call's tokens: 4-bit matrices, and fp16 ones with several tokens (0.1B, 2 threads, <c>bench --ab</c>
    /// against the fallback's 4×4 tiles: prefill +8 to +28%, batch of 16 +6 to +30%, B winning every pair but three in
    /// four runs). One fp16 token takes the fallback's in-register widening.
    /// </summary>
    public static bool Widens(in WeightMatrix w, int tokens) => w.Type == TensorDType.Q4 || (w.Type == TensorDType.F16 && tokens > 1);

    private static void WidenedProduct<TPrefetch>(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        int cols = w.Cols;
        int chunkRows = Math.Max(6, WidenedChunkBytes / sizeof(float) / cols / 6 * 6);
        float[] rows = t_widenedRows is { } buffer && buffer.Length >= chunkRows * cols
            ? buffer
            : (t_widenedRows = GC.AllocateUninitializedArray<float>(chunkRows * cols, pinned: true));
        byte* data = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(rows));
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
}
