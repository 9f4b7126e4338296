using System.Security.Cryptography;

namespace Rwkv7.Gen.Sampling;

/// <summary>
/// Draws tokens from logits as <see cref="SamplingOptions"/> describe, and keeps the occurrence counts of the
/// tokens it is told were generated (<see cref="Accept"/>). Every buffer is sized to the vocabulary once, so
/// <see cref="Sample"/> and <see cref="Accept"/> allocate nothing.
/// </summary>
/// <remarks>One sampler serves one generation at a time; it is not thread-safe.</remarks>
public sealed class Sampler
{
    private readonly int _vocab;
    private readonly float[] _logits;        // [V] logits after bans and penalties
    private readonly float[] _probabilities; // [V] exp(logit - max): unnormalized, the largest is 1
    private readonly int[] _candidates;      // [V] ids kept by top-p / top-k, most likely first
    private readonly float[] _sortKeys;      // [V] scratch for sorting the candidates
    private readonly float[] _weights;       // [V] draw weights: p^(1/T) after the cuts
    private readonly double[] _chunkSums;    // per chunk of weights, for the draw
    private readonly List<int> _banned;
    private readonly RepetitionPenalty _penalty;
    private Xoshiro256StarStar _random;

    /// <summary>Creates a sampler for a model with <paramref name="vocabSize"/> logits.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the message says which).</exception>
    public Sampler(int vocabSize, SamplingOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        options ??= SamplingOptions.Default;
        options.Validate(vocabSize);
        Options = options;
        _vocab = vocabSize;
        _logits = new float[vocabSize];
        _probabilities = new float[vocabSize];
        _candidates = new int[vocabSize];
        _sortKeys = new float[vocabSize];
        _weights = new float[vocabSize];
        _chunkSums = new double[(vocabSize + ProbabilityKernels.DrawChunk - 1) / ProbabilityKernels.DrawChunk];
        _banned = [.. options.BannedTokens];
        _penalty = new RepetitionPenalty(vocabSize);
        _random = new Xoshiro256StarStar(options.Seed ?? RandomSeed());
    }

    /// <summary>The options in force.</summary>
    public SamplingOptions Options { get; }

    /// <summary>Number of logits expected.</summary>
    public int VocabSize => _vocab;

    /// <summary>Number of distinct tokens currently penalized.</summary>
    public int PenalizedTokenCount => _penalty.ActiveCount;

    /// <summary>Also bans <paramref name="token"/> (for example ids the tokenizer cannot decode, or end of text in chat).</summary>
    public void Ban(int token)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(token, _vocab);
        if (!_banned.Contains(token))
        {
            _banned.Add(token);
        }
    }

    /// <summary>Restarts the random sequence from <paramref name="seed"/>.</summary>
    public void Reseed(long seed) => _random = new Xoshiro256StarStar(seed);

    /// <summary>Forgets the occurrence counts (a new generation starts).</summary>
    public void ResetPenalties() => _penalty.Reset();

    /// <summary>
    /// Records that <paramref name="token"/> was generated: earlier counts decay by
    /// <see cref="SamplingOptions.PenaltyDecay"/>, then the token's count grows by <paramref name="weight"/>
    /// (1, or 0 for tokens exempt from the frequency penalty).
    /// </summary>
    public void Accept(int token, float weight = 1f)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(token, _vocab);
        _penalty.Record(token, weight, Options.PenaltyDecay);
    }

    /// <summary>Draws the next token from <paramref name="logits"/> (not modified).</summary>
    /// <exception cref="InvalidOperationException">Every token is banned.</exception>
    /// <exception cref="RwkvException">The logits contain NaN.</exception>
    public int Sample(ReadOnlySpan<float> logits)
    {
        if (logits.Length != _vocab)
        {
            throw new ArgumentException($"Expected {_vocab} logits, got {logits.Length}.", nameof(logits));
        }

        PrepareLogits(logits);
        if (Options.IsGreedy)
        {
            int best = ProbabilityKernels.IndexOfMax(_logits);
            CheckDrawable(_logits[best]);
            return best;
        }

        float max = ProbabilityKernels.Max(_logits);
        CheckDrawable(max);

        // Probabilities at temperature 1, unnormalized (the largest is exactly 1; banned tokens are 0).
        ProbabilityKernels.ExpShifted(_logits, max, 1f, _probabilities);

        bool truncates = Options.TopP < 1 || (Options.TopK > 0 && Options.TopK < _vocab);
        return truncates ? SampleTruncated(max) : SampleAll(max);
    }

    private void PrepareLogits(ReadOnlySpan<float> logits)
    {
        logits.CopyTo(_logits);
        foreach (int token in _banned)
        {
            _logits[token] = float.NegativeInfinity;
        }

        _penalty.Apply(_logits, Options.PresencePenalty, Options.FrequencyPenalty);
    }

    /// <summary>No top-p or top-k: draw from every token above the min-p bound.</summary>
    private int SampleAll(float max)
    {
        float temperature = Options.Temperature;
        ReadOnlySpan<float> weights = _probabilities;
        if (temperature != 1f || Options.MinP > 0)
        {
            if (temperature == 1f)
            {
                _probabilities.CopyTo(_weights);
            }
            else
            {
                // p^(1/T) = exp((logit - max) / T), computed from the logits for accuracy.
                ProbabilityKernels.ExpShifted(_logits, max, 1f / temperature, _weights);
            }

            if (Options.MinP > 0)
            {
                ProbabilityKernels.ZeroBelow(_weights, _probabilities, Options.MinP);
            }

            weights = _weights;
        }

        return ProbabilityKernels.Draw(weights, _random.NextDouble(), _chunkSums);
    }

    /// <summary>Top-p and/or top-k (and min-p) over the sorted most likely tokens.</summary>
    private int SampleTruncated(float max)
    {
        double? target = Options.TopP < 1 ? Options.TopP * (double)ProbabilityKernels.Sum(_probabilities) : null;

        int topK = Options.TopK > 0 && Options.TopK < _vocab ? Options.TopK : 0;
        int m = CandidateSelection.Select(_probabilities, _candidates, _sortKeys, topK, target);

        // Keep a prefix of the sorted candidates: top-p stops once the mass reaches the target (ties with the last
        // kept probability stay, as in the pip pipeline), top-k after k, min-p below its bound.
        int kept = 0;
        double mass = 0;
        float previous = float.PositiveInfinity;
        for (; kept < m; kept++)
        {
            float p = _probabilities[_candidates[kept]];
            bool reached = target is double t && mass >= t;
            if (p < Options.MinP || (topK > 0 && kept >= topK) || (reached && p < previous))
            {
                break;
            }

            mass += p;
            previous = p;
        }

        double total = 0;
        for (int k = 0; k < kept; k++)
        {
            int id = _candidates[k];
            total += Weight(_probabilities[id], _logits[id], max);
        }

        double u = _random.NextDouble() * total;
        for (int k = 0; k < kept; k++)
        {
            int id = _candidates[k];
            u -= Weight(_probabilities[id], _logits[id], max);
            if (u < 0)
            {
                return id;
            }
        }

        return _candidates[kept - 1];
    }

    /// <summary>p^(1/T), computed as exp((logit - max) / T) for accuracy.</summary>
    private float Weight(float p, float logit, float max)
    {
        float temperature = Options.Temperature;
        return temperature == 1f ? p : MathF.Exp((logit - max) / temperature);
    }

    private static void CheckDrawable(float best)
    {
        if (float.IsNaN(best))
        {
            throw new RwkvException("The logits contain NaN: the model's output is broken, no token can be drawn.");
        }

        if (best == float.NegativeInfinity)
        {
            throw new InvalidOperationException("Every token is banned: no token can be drawn.");
        }
    }

    private static long RandomSeed()
    {
        Span<byte> bytes = stackalloc byte[sizeof(long)];
        RandomNumberGenerator.Fill(bytes);
        return BitConverter.ToInt64(bytes);
    }
}
