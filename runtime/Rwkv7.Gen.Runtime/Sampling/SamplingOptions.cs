namespace Rwkv7.Gen.Sampling;

/// <summary>
/// How the next token is drawn from the logits. The defaults are those of the official <c>rwkv</c> pip package's
/// <c>PIPELINE_ARGS</c>: temperature 1.0, top-p 0.85, presence and frequency penalties 0.2 decaying by 0.996 per
/// generated token.
/// </summary>
/// <remarks>
/// Order of operations, as in the pip pipeline: banned tokens are removed; every token generated so far has its
/// logit lowered by <c>presence + occurrence × frequency</c>; the softmax is taken at temperature 1; top-p, top-k
/// and min-p cut the tail; the survivors are re-weighted by the temperature (p^(1/T)) and one is drawn.
/// </remarks>
public sealed record SamplingOptions
{
    /// <summary>The pip pipeline's defaults.</summary>
    public static SamplingOptions Default { get; } = new();

    /// <summary>Always the most likely token (after bans), with no penalties.</summary>
    public static SamplingOptions Greedy { get; } = new() { Temperature = 0, TopP = 1, PresencePenalty = 0, FrequencyPenalty = 0 };

    /// <summary>Softmax temperature; 0 means greedy (the most likely token, the lowest id on ties). Default 1.</summary>
    public float Temperature { get; init; } = 1.0f;

    /// <summary>
    /// Nucleus: keep the most likely tokens until their probability reaches this mass (tokens tied with the last
    /// one kept stay). In (0, 1]; 1 turns it off. Default 0.85.
    /// </summary>
    public float TopP { get; init; } = 0.85f;

    /// <summary>Keep at most this many of the most likely tokens; 0 turns it off. Default 0.</summary>
    public int TopK { get; init; }

    /// <summary>Drop tokens less likely than this fraction of the most likely one. In [0, 1]; 0 turns it off. Default 0.</summary>
    public float MinP { get; init; }

    /// <summary>Subtracted once from the logit of every token already generated (<c>alpha_presence</c>). Default 0.2.</summary>
    public float PresencePenalty { get; init; } = 0.2f;

    /// <summary>Subtracted per (decayed) occurrence of a generated token (<c>alpha_frequency</c>). Default 0.2.</summary>
    public float FrequencyPenalty { get; init; } = 0.2f;

    /// <summary>Every generated token multiplies all earlier occurrence counts by this (<c>alpha_decay</c>). In [0, 1]. Default 0.996.</summary>
    public float PenaltyDecay { get; init; } = 0.996f;

    /// <summary>
    /// As in the pip pipeline, tokens that are only spaces, tabs or digits add nothing to their occurrence count
    /// (they still get the presence penalty). Default true; the official chat demo turns it off.
    /// </summary>
    public bool ExemptWhitespaceAndDigits { get; init; } = true;

    /// <summary>Tokens that are never drawn.</summary>
    public IReadOnlyList<int> BannedTokens { get; init; } = [];

    /// <summary>Seed of the sampler's own generator: the same seed, prompt and options give the same text. Null draws a random seed.</summary>
    public long? Seed { get; init; }

    /// <summary>Whether sampling is greedy (temperature 0).</summary>
    public bool IsGreedy => Temperature == 0;

    /// <summary>Checks every value; throws <see cref="ArgumentOutOfRangeException"/> naming the first bad one.</summary>
    /// <param name="vocabSize">When given, banned tokens must lie in [0, vocabSize).</param>
    public void Validate(int? vocabSize = null)
    {
        if (!float.IsFinite(Temperature) || Temperature < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be a finite number >= 0 (0 means greedy).");
        }

        if (!(TopP > 0 && TopP <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must lie in (0, 1]; 1 turns it off.");
        }

        if (TopK < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be >= 0; 0 turns it off.");
        }

        if (!(MinP >= 0 && MinP <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(MinP), MinP, "MinP must lie in [0, 1]; 0 turns it off.");
        }

        if (!float.IsFinite(PresencePenalty))
        {
            throw new ArgumentOutOfRangeException(nameof(PresencePenalty), PresencePenalty, "PresencePenalty must be a finite number.");
        }

        if (!float.IsFinite(FrequencyPenalty))
        {
            throw new ArgumentOutOfRangeException(nameof(FrequencyPenalty), FrequencyPenalty, "FrequencyPenalty must be a finite number.");
        }

        if (!(PenaltyDecay >= 0 && PenaltyDecay <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(PenaltyDecay), PenaltyDecay, "PenaltyDecay must lie in [0, 1].");
        }

        ArgumentNullException.ThrowIfNull(BannedTokens, nameof(BannedTokens));
        if (vocabSize is int v)
        {
            foreach (int token in BannedTokens)
            {
                if ((uint)token >= (uint)v)
                {
                    throw new ArgumentOutOfRangeException(nameof(BannedTokens), token, $"Banned tokens must lie in [0, {v}).");
                }
            }
        }
    }
}
