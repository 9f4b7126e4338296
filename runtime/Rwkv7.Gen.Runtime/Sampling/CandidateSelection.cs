namespace Rwkv7.Gen.Sampling;

/// <summary>
/// Finds the most likely tokens without sorting the whole vocabulary: vectorized passes measure the count and
/// mass of the tokens at or above falling thresholds (1/16, 1/256, ... of the largest probability) until there are
/// enough tokens for top-k or enough mass for top-p; only the tokens above that threshold are gathered and sorted.
/// </summary>
/// <remarks>
/// This gathers every token the full sort would keep: the cut-off of top-p is the largest probability c whose
/// "mass of tokens with p &gt;= c" reaches the target, and the chosen threshold t already has a mass of at least
/// the target, so c &gt;= t. For top-k, at least k tokens are at or above t, so the k largest are too. With a
/// language model's peaked output the first pass usually suffices.
/// </remarks>
internal static class CandidateSelection
{
    /// <summary>Thresholds tried, as powers of two below the largest probability (which is 1).</summary>
    private static readonly int[] ThresholdExponents = [4, 8, 12, 16, 20, 26];

    /// <summary>
    /// Writes to <paramref name="candidates"/> the ids of the most likely tokens, sorted by probability (highest
    /// first, lowest id first on ties), enough to apply <paramref name="topK"/> (0 = off) and a top-p mass of
    /// <paramref name="targetMass"/> (null = off). Returns how many were written.
    /// </summary>
    /// <param name="probabilities">[V] unnormalized probabilities in [0, 1], the largest exactly 1.</param>
    /// <param name="candidates">[V] scratch for the ids.</param>
    /// <param name="keys">[V] scratch for the sort keys.</param>
    /// <param name="topK">Number of tokens needed, or 0.</param>
    /// <param name="targetMass">Mass needed (same scale as the probabilities), or null.</param>
    public static int Select(ReadOnlySpan<float> probabilities, Span<int> candidates, Span<float> keys, int topK, double? targetMass)
    {
        float threshold = float.Epsilon; // everything with a non-zero probability, if no pass is enough
        foreach (int exponent in ThresholdExponents)
        {
            float t = MathF.ScaleB(1f, -exponent);
            float mass = ProbabilityKernels.SumAtLeast(probabilities, t, out int count);
            if ((topK > 0 && count >= topK) || (targetMass is double target && mass >= target))
            {
                threshold = t;
                break;
            }
        }

        int m = ProbabilityKernels.GatherAtLeast(probabilities, threshold, candidates);
        SortMostLikelyFirst(probabilities, candidates[..m], keys[..m]);
        return m;
    }

    /// <summary>
    /// Higher probability first, lower id first on ties, so the order is fully determined. Sorting by key and then
    /// each run of equal keys by id avoids a comparer (which the span sort would wrap in a delegate).
    /// </summary>
    private static void SortMostLikelyFirst(ReadOnlySpan<float> probabilities, Span<int> ids, Span<float> keys)
    {
        for (int k = 0; k < ids.Length; k++)
        {
            keys[k] = -probabilities[ids[k]];
        }

        keys.Sort(ids);
        int runStart = 0;
        for (int k = 1; k <= ids.Length; k++)
        {
            if (k == ids.Length || keys[k] != keys[runStart])
            {
                if (k - runStart > 1)
                {
                    ids[runStart..k].Sort();
                }

                runStart = k;
            }
        }
    }
}
