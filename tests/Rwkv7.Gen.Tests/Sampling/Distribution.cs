using Rwkv7.Gen.Sampling;

namespace Rwkv7.Gen.Tests.Sampling;

/// <summary>Draw counts and a chi-square goodness-of-fit check against expected probabilities.</summary>
internal static class Distribution
{
    public const int Draws = 20_000;

    /// <summary>Chi-square critical values at p = 0.001 for 1 to 20 degrees of freedom.</summary>
    private static readonly double[] Critical001 =
    [
        10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88, 29.59,
        31.26, 32.91, 34.53, 36.12, 37.70, 39.25, 40.79, 42.31, 43.82, 45.31,
    ];

    public static int[] Count(Sampler sampler, float[] logits, int draws = Draws)
    {
        int[] counts = new int[logits.Length];
        for (int i = 0; i < draws; i++)
        {
            counts[sampler.Sample(logits)]++;
        }

        return counts;
    }

    /// <summary>
    /// Asserts the counts fit <paramref name="expected"/> (probabilities summing to 1): tokens with probability 0
    /// are never drawn, and the chi-square statistic over the others stays under the 0.1% critical value.
    /// </summary>
    public static void AssertFits(int[] counts, double[] expected, string what)
    {
        Assert.Equal(expected.Length, counts.Length);
        int total = counts.Sum();
        double chi = 0;
        int categories = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            if (expected[i] == 0)
            {
                Assert.True(counts[i] == 0, $"{what}: token {i} has probability 0 but was drawn {counts[i]} times");
                continue;
            }

            double e = expected[i] * total;
            chi += (counts[i] - e) * (counts[i] - e) / e;
            categories++;
        }

        int df = categories - 1;
        if (df == 0)
        {
            return; // one possible token: the zero checks above say it all
        }

        double limit = Critical001[df - 1];
        Assert.True(chi < limit, $"{what}: chi-square {chi:F2} with {df} degrees of freedom exceeds {limit} (counts {string.Join(", ", counts)})");
    }

    public static double[] Softmax(float[] logits, double temperature = 1)
    {
        double max = logits.Max();
        double[] p = logits.Select(l => Math.Exp((l - max) / temperature)).ToArray();
        double sum = p.Sum();
        return p.Select(x => x / sum).ToArray();
    }

    /// <summary>Logits whose softmax is <paramref name="probabilities"/>.</summary>
    public static float[] LogitsOf(params double[] probabilities) => probabilities.Select(p => (float)Math.Log(p)).ToArray();

    /// <summary>Keeps the listed tokens, zeroes the rest and renormalizes.</summary>
    public static double[] Restrict(double[] p, params int[] keep)
    {
        double[] r = new double[p.Length];
        foreach (int k in keep)
        {
            r[k] = p[k];
        }

        double sum = r.Sum();
        return r.Select(x => x / sum).ToArray();
    }
}
