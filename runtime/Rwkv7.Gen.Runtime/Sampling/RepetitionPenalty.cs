namespace Rwkv7.Gen.Sampling;

/// <summary>
/// Occurrence counts of generated tokens for the presence and frequency penalties, with the RWKV decay: after each
/// generated token every earlier count is multiplied by <c>alpha_decay</c>, then the new token's count grows by its
/// weight. Buffers are sized once; recording and applying allocate nothing.
/// </summary>
internal sealed class RepetitionPenalty
{
    private readonly float[] _occurrence;  // [V] decayed count per token
    private readonly bool[] _isActive;     // [V] token generated since the last reset
    private readonly int[] _active;        // the active tokens, in order of first occurrence
    private int _activeCount;

    public RepetitionPenalty(int vocabSize)
    {
        _occurrence = new float[vocabSize];
        _isActive = new bool[vocabSize];
        _active = new int[vocabSize];
    }

    /// <summary>Number of distinct tokens being penalized.</summary>
    public int ActiveCount => _activeCount;

    /// <summary>The decayed occurrence count of <paramref name="token"/>.</summary>
    public float Occurrence(int token) => _occurrence[token];

    /// <summary>Lowers the logit of every active token by <c>presence + occurrence × frequency</c>.</summary>
    public void Apply(Span<float> logits, float presence, float frequency)
    {
        for (int k = 0; k < _activeCount; k++)
        {
            int token = _active[k];
            logits[token] -= presence + (_occurrence[token] * frequency);
        }
    }

    /// <summary>Decays all counts, then adds <paramref name="weight"/> to <paramref name="token"/>'s count.</summary>
    public void Record(int token, float weight, float decay)
    {
        for (int k = 0; k < _activeCount; k++)
        {
            _occurrence[_active[k]] *= decay;
        }

        if (!_isActive[token])
        {
            _isActive[token] = true;
            _active[_activeCount++] = token;
        }

        _occurrence[token] += weight;
    }

    /// <summary>Forgets every occurrence.</summary>
    public void Reset()
    {
        for (int k = 0; k < _activeCount; k++)
        {
            int token = _active[k];
            _occurrence[token] = 0;
            _isActive[token] = false;
        }

        _activeCount = 0;
    }
}
