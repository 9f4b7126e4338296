using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ILGPU;

namespace Rwkv7.Gen.Gpu.Kernels;

/// <summary>Partial sums of one output row for a tile of up to four tokens.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Acc4
{
    /// <summary>Token m0.</summary>
    public float A0;

    /// <summary>Token m0 + 1.</summary>
    public float A1;

    /// <summary>Token m0 + 2.</summary>
    public float A2;

    /// <summary>Token m0 + 3.</summary>
    public float A3;
}

/// <summary>Mean and 1/sqrt(variance + eps) of one row (LayerNorm statistics).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RowMoments
{
    /// <summary>Mean.</summary>
    public float Mean;

    /// <summary>1 / sqrt(biased variance + eps).</summary>
    public float InvStd;
}

/// <summary>Group-level helpers of the generated kernels that do not depend on the shape.</summary>
public static class KernelHelpers
{
    /// <summary>Tokens per register tile of the products.</summary>
    public const int TokenTile = 4;

    /// <summary>
    /// The sum of <paramref name="value"/> over the group's threads, returned to every thread (each adds the partials
    /// in thread order, so all get the same bits). One barrier; none when the group has one thread. Callers alternate
    /// two scratch arrays so that a following sum cannot overwrite partials still being read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float GroupSum(float value, ArrayView<float> scratch, int thread, int threads)
    {
        if (threads == 1)
        {
            return value;
        }

        scratch[thread] = value;
        Group.Barrier();
        float sum = 0;
        for (int u = 0; u < threads; u++)
        {
            sum += scratch[u];
        }

        return sum;
    }

    /// <summary>
    /// Adds the partial sums of the <paramref name="lanes"/> threads that share an output row; lane 0 gets the total
    /// (in lane order). Two barriers (the scratch is reused by the next tile); none when a row has one lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Acc4 LaneSum(Acc4 acc, ArrayView<float> scratch, int thread, int lane, int lanes)
    {
        if (lanes == 1)
        {
            return acc;
        }

        int at = thread * TokenTile;
        scratch[at] = acc.A0;
        scratch[at + 1] = acc.A1;
        scratch[at + 2] = acc.A2;
        scratch[at + 3] = acc.A3;
        Group.Barrier();
        Acc4 sum = default;
        if (lane == 0)
        {
            for (int u = 0; u < lanes; u++)
            {
                int p = at + (u * TokenTile);
                sum.A0 += scratch[p];
                sum.A1 += scratch[p + 1];
                sum.A2 += scratch[p + 2];
                sum.A3 += scratch[p + 3];
            }
        }

        Group.Barrier();
        return sum;
    }

    /// <summary>Element <paramref name="i"/> of a tile (0..3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Get(Acc4 acc, int i) => i == 0 ? acc.A0 : i == 1 ? acc.A1 : i == 2 ? acc.A2 : acc.A3;
}
