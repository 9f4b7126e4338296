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

    /// <inheritdoc />
    internal override double? TimePromptProducts(PromptWork work, int tokens, bool integer) =>
        Tuning?.WeightPrefetch == PrefetchHint.NonTemporal
            ? TimePromptProducts<NonTemporalPrefetch>(work, tokens, integer)
            : TimePromptProducts<TemporalPrefetch>(work, tokens, integer);

    /// <summary>
    /// One prompt calibration trial: each of the work's matrices (its first rows) times a block of
    /// <paramref name="tokens"/> rows of inputs, on the integer path (the inputs rounded and arranged, then
    /// <see cref="Products{TKernels}.Int16Product{TPrefetch}"/>) or the widened one (<see cref="Products{TKernels}.Product{TPrefetch}"/>,
    /// which widens 4-bit rows into the fp32 tiles), as a prompt's products run them, on the calling thread.
    /// </summary>
    private static double TimePromptProducts<TPrefetch>(PromptWork work, int tokens, bool integer)
        where TPrefetch : struct, IWeightPrefetch
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < work.Matrices.Length; i++)
        {
            WeightMatrix m = work.Matrices[i];
            int rows = work.Rows[i];
            ReadOnlySpan<float> x = work.Inputs[i].AsSpan(0, tokens * m.Cols);
            Span<float> y = work.Output.AsSpan(0, tokens * rows);
            if (integer)
            {
                work.Int16Inputs[i].Round(x, tokens, arrange: true);
                Products<TKernels>.Int16Product<TPrefetch>(m, work.Int16Inputs[i], y, rows, 0, rows, accumulate: false);
            }
            else
            {
                Products<TKernels>.Product<TPrefetch>(m, x, y, tokens, rows, 0, rows, accumulate: false);
            }
        }

        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
}
