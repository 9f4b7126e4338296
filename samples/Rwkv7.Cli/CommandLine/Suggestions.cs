namespace Rwkv7.Cli.CommandLine;

/// <summary>
/// The names nearest to a mistyped one (<c>--sed</c> → <c>--seed</c>, <c>genrate</c> → <c>generate</c>), by edit
/// distance counting a swap of two neighbouring letters as one edit.
/// </summary>
internal static class Suggestions
{
    /// <summary>Names further than this from what was typed are not suggested.</summary>
    public const int MaxDistance = 3;

    /// <summary>
    /// The candidates at the smallest distance from <paramref name="typed"/>, if it is at most
    /// <see cref="MaxDistance"/> and less than the typed name's length (so short typos don't match everything).
    /// </summary>
    public static IReadOnlyList<string> Nearest(string typed, IEnumerable<string> candidates)
    {
        var best = new List<string>();
        int bestDistance = Math.Min(MaxDistance, typed.TrimStart('-').Length - 1);
        foreach (string candidate in candidates.Distinct(StringComparer.Ordinal))
        {
            int distance = Distance(typed, candidate);
            if (distance < bestDistance)
            {
                best.Clear();
                bestDistance = distance;
            }

            if (distance == bestDistance)
            {
                best.Add(candidate);
            }
        }

        return best;
    }

    /// <summary>"; did you mean --seed?", or "" when nothing is near.</summary>
    public static string DidYouMean(string typed, IEnumerable<string> candidates)
    {
        IReadOnlyList<string> nearest = Nearest(typed, candidates);
        return nearest.Count == 0 ? "" : $"; did you mean {CliOptions.List(nearest)}?";
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
