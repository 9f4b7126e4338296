namespace Rwkv7.Gen.Sampling;

/// <summary>
/// Finds the most likely tokens without sorting the whole vocabulary. One pass buckets the probabilities by
/// binary exponent (a histogram of count and mass per power of two); the buckets are walked from the top until
/// they hold enough tokens for top-k or enough mass for top-p; a second pass gathers the tokens at or above that
/// bucket's lower bound, and only those are sorted.
/// </summary>
/// <remarks>
/// This gathers every token the full sort would keep: the cut-off of top-p is the largest probability c whose
/// "mass of tokens with p &gt;= c" reaches the target, and the chosen bucket's bound t already has a mass of at
/// least the target, so c &gt;= t. For top-k, at least k tokens are at or above t, so the k largest are too.
/// </remarks>
internal static class CandidateSelection
{
    /// <summary>Buckets: p in [2^-b, 2^-(b-1)) for b in 1..62, p = 1 in bucket 0, everything smaller in the last.</summary>
    private const int Buckets = 64;

    private const int FloatExponentBias = 127;

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
        Span<int> counts = stackalloc int[Buckets];
        Span<double> masses = stackalloc double[Buckets];
        counts.Clear();
        masses.Clear();
        foreach (float p in probabilities)
        {
            int b = Bucket(p);
            counts[b]++;
            masses[b] += p;
        }

        int bucket = Buckets - 1;
        int count = 0;
        double mass = 0;
        for (int b = 0; b < Buckets; b++)
        {
            count += counts[b];
            mass += masses[b];
            if ((topK > 0 && count >= topK) || (targetMass is double target && mass >= target))
            {
                bucket = b;
                break;
            }
        }

        // The last bucket also holds zeros (banned tokens): never candidates.
        float lowerBound = bucket == Buckets - 1 ? float.Epsilon : MathF.ScaleB(1f, -bucket);
        int m = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            if (probabilities[i] >= lowerBound)
            {
                candidates[m++] = i;
            }
        }

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

    private static int Bucket(float p)
    {
        int exponent = (BitConverter.SingleToInt32Bits(p) >> 23) & 0xFF;
        return Math.Clamp(FloatExponentBias - exponent, 0, Buckets - 1);
    }
}
