using System.Diagnostics;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

public abstract unsafe partial class SpecializedModel<TKernels>
{
    /// <inheritdoc />
    internal override double? TimeWeightStream(PrefetchHint hint, CalibrationWork work) =>
        hint == PrefetchHint.NonTemporal ? TimeWeightStream<NonTemporalPrefetch>(work) : TimeWeightStream<TemporalPrefetch>(work);

    /// <summary>
    /// One calibration trial: the one-token products decode runs (16-bit inputs for 8- and 4-bit matrices), every row of
    /// each of the work's matrices, on the calling thread.
    /// </summary>
    private static double TimeWeightStream<TPrefetch>(CalibrationWork work)
        where TPrefetch : struct, IWeightPrefetch
    {
        long start = Stopwatch.GetTimestamp();
        for (int pass = 0; pass < work.Passes; pass++)
        {
            foreach (WeightMatrix m in work.Matrices)
            {
                Span<float> y = work.Output.AsSpan(0, m.Rows);
                if (Products<TKernels>.TakesInt16Inputs(m))
                {
                    Products<TKernels>.Int16Product<TPrefetch>(m, work.Int16Input, y, m.Rows, 0, m.Rows, accumulate: false);
                }
                else
                {
                    Products<TKernels>.Product<TPrefetch>(m, work.Input.AsSpan(0, m.Cols), y, 1, m.Rows, 0, m.Rows, accumulate: false);
                }
            }
        }

        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
}
