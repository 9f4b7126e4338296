namespace Rwkv7.Gen.Sessions;

/// <summary>
/// Snapshots of states after token prefixes, so a prompt shared by many sessions (a system prompt, a few-shot
/// preamble) is run through the model once. Keyed by the exact token sequence from the zero state; each entry holds
/// a copy of the state and of the logits after it. Least recently used entries go first.
/// </summary>
/// <remarks>
/// A session that has this cache looks it up in <see cref="RwkvSession.Append(string, bool, CancellationToken)"/>: when an entry's
/// tokens are the session's tokens so far followed by a prefix of the new ones, the session copies the snapshot and
/// runs only the rest. Entries are added by appending with <c>cacheable: true</c>. Safe to share between threads.
/// </remarks>
public sealed class PromptCache
{
    private readonly object _gate = new();
    private readonly List<Entry> _entries = [];
    private long _clock;

    /// <summary>Creates a cache for states of <paramref name="model"/>.</summary>
    /// <param name="model">The model whose states are cached (a snapshot is only valid for the weights that made it).</param>
    /// <param name="capacity">Most entries kept; each costs one state plus V logits of memory.</param>
    public PromptCache(RwkvModel model, int capacity = 8)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Model = model;
        Capacity = capacity;
    }

    /// <summary>The model the snapshots belong to.</summary>
    public RwkvModel Model { get; }

    /// <summary>Most entries kept.</summary>
    public int Capacity { get; }

    /// <summary>Entries held now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Lookups that restored a snapshot.</summary>
    public long Hits { get; private set; }

    /// <summary>Lookups that found nothing.</summary>
    public long Misses { get; private set; }

    /// <summary>Removes every entry.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _entries.Clear();
        }
    }

    /// <summary>
    /// Finds the longest entry whose tokens are <paramref name="history"/> followed by a non-empty prefix of
    /// <paramref name="next"/>, copies its state and logits into the targets and returns how many tokens of
    /// <paramref name="next"/> it covers (0 when none fits; the targets are then untouched).
    /// </summary>
    internal int TryRestore(IReadOnlyList<int> history, ReadOnlySpan<int> next, RwkvState target, Span<float> logits)
    {
        lock (_gate)
        {
            Entry? best = null;
            foreach (Entry entry in _entries)
            {
                int covered = entry.Tokens.Length - history.Count;
                if (covered > 0 && covered <= next.Length && (best is null || entry.Tokens.Length > best.Tokens.Length)
                    && StartsWith(entry.Tokens, history) && entry.Tokens.AsSpan(history.Count).SequenceEqual(next[..covered]))
                {
                    best = entry;
                }
            }

            if (best is null)
            {
                Misses++;
                return 0;
            }

            Hits++;
            best.LastUse = ++_clock;
            target.CopyFrom(best.State);
            best.Logits.CopyTo(logits);
            return best.Tokens.Length - history.Count;
        }
    }

    /// <summary>Stores copies of <paramref name="state"/> and <paramref name="logits"/> for <paramref name="tokens"/>.</summary>
    internal void Store(IReadOnlyList<int> tokens, RwkvState state, ReadOnlySpan<float> logits)
    {
        if (tokens.Count == 0)
        {
            return;
        }

        int[] key = [.. tokens];
        lock (_gate)
        {
            foreach (Entry entry in _entries)
            {
                if (entry.Tokens.AsSpan().SequenceEqual(key))
                {
                    entry.LastUse = ++_clock;
                    return;
                }
            }

            if (_entries.Count == Capacity)
            {
                Entry oldest = _entries[0];
                foreach (Entry entry in _entries)
                {
                    oldest = entry.LastUse < oldest.LastUse ? entry : oldest;
                }

                _entries.Remove(oldest);
            }

            _entries.Add(new Entry(key, state.Clone(), logits.ToArray()) { LastUse = ++_clock });
        }
    }

    private static bool StartsWith(int[] tokens, IReadOnlyList<int> prefix)
    {
        if (prefix.Count > tokens.Length)
        {
            return false;
        }

        for (int i = 0; i < prefix.Count; i++)
        {
            if (tokens[i] != prefix[i])
            {
                return false;
            }
        }

        return true;
    }

    private sealed class Entry(int[] tokens, RwkvState state, float[] logits)
    {
        public int[] Tokens { get; } = tokens;

        public RwkvState State { get; } = state;

        public float[] Logits { get; } = logits;

        public long LastUse { get; set; }
    }
}
