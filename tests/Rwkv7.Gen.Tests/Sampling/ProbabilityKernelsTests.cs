using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Sampling;

/// <summary>The vectorized loops against plain loops, at every length around the vector widths.</summary>
[Trait(SimdWidth.Trait, SimdWidth.AllWidths)] // vector paths: rerun on every SIMD width (eng/test.sh)
public sealed class ProbabilityKernelsTests
{
    [Fact]
    public void Masked_sums_counts_gathers_and_zeroing_match_plain_loops()
    {
        var random = new Random(9);
        for (int length = 0; length <= 70; length++)
        {
            float[] values = Enumerable.Range(0, length).Select(_ => (float)random.NextDouble()).ToArray();
            const float threshold = 0.5f;
            int[] expectedIds = Enumerable.Range(0, length).Where(i => values[i] >= threshold).ToArray();

            float sum = ProbabilityKernels.SumAtLeast(values, threshold, out int count);
            Assert.Equal(expectedIds.Length, count);
            Assert.Equal(expectedIds.Sum(i => (double)values[i]), sum, 1e-5);

            int[] ids = new int[length];
            int m = ProbabilityKernels.GatherAtLeast(values, threshold, ids);
            Assert.Equal(expectedIds, ids[..m]);

            float[] weights = values.Select(v => v * 2).ToArray();
            ProbabilityKernels.ZeroBelow(weights, values, threshold);
            Assert.Equal(values.Select(v => v >= threshold ? v * 2 : 0f), weights);
        }
    }

    [Fact]
    public void Draw_follows_the_weights_across_chunks()
    {
        // 3,000 weights (three chunks); the mass sits on five ids spread over all chunks, the rest is zero.
        float[] weights = new float[3000];
        int[] ids = [3, 1023, 1024, 2047, 2999];
        double[] masses = [0.1, 0.2, 0.3, 0.15, 0.25];
        for (int k = 0; k < ids.Length; k++)
        {
            weights[ids[k]] = (float)masses[k];
        }

        double[] chunkSums = new double[3];
        var rng = new Xoshiro256StarStar(4);
        int[] counts = new int[ids.Length];
        for (int i = 0; i < Distribution.Draws; i++)
        {
            int drawn = ProbabilityKernels.Draw(weights, rng.NextDouble(), chunkSums);
            counts[Array.IndexOf(ids, drawn)]++;
        }

        Distribution.AssertFits(counts, masses, "draw over three chunks");
        Assert.Equal(2999, ProbabilityKernels.Draw(weights, 0.9999999999, chunkSums));
        Assert.Equal(3, ProbabilityKernels.Draw(weights, 0.0, chunkSums));
    }

    [Fact]
    public void Max_index_of_max_sums_and_shifted_exponentials_match_plain_loops()
    {
        var rng = new Random(11);
        foreach (int n in new[] { 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1031 })
        {
            float[] x = [.. Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 40) - 30))];
            int argMax = 0;
            for (int i = 1; i < n; i++)
            {
                argMax = x[i] > x[argMax] ? i : argMax;
            }

            Assert.Equal(x[argMax], ProbabilityKernels.Max(x));
            Assert.Equal(argMax, ProbabilityKernels.IndexOfMax(x));
            Assert.Equal(x.Sum(v => (double)v), ProbabilityKernels.Sum(x), 1e-3 * n);

            float[] plain = new float[n], scaled = new float[n];
            ProbabilityKernels.ExpShifted(x, x[argMax], 1f, plain);
            ProbabilityKernels.ExpShifted(x, x[argMax], 1f / 0.7f, scaled);
            for (int i = 0; i < n; i++)
            {
                // The float subtraction and multiplication round as the kernel's do; the exponential within 4e-7.
                float shifted = x[i] - x[argMax], divided = shifted * (1f / 0.7f);
                Assert.Equal(Math.Exp(shifted), plain[i], 4e-7 * Math.Exp(shifted));
                Assert.Equal(Math.Exp(divided), scaled[i], 4e-7 * Math.Exp(divided));
            }

            Assert.Equal(1f, plain[argMax]);

            // Ties go to the first; a NaN anywhere is the maximum, and the first NaN its index.
            x[n - 1] = x[argMax];
            Assert.Equal(argMax, ProbabilityKernels.IndexOfMax(x));
            x[n / 2] = float.NaN;
            x[n - 1] = float.NaN;
            Assert.True(float.IsNaN(ProbabilityKernels.Max(x)));
            Assert.Equal(n / 2, ProbabilityKernels.IndexOfMax(x));
        }
    }
}
