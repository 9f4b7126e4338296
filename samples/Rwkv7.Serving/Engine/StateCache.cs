using Rwkv7.Gen;

namespace Rwkv7.Serving.Engine;

/// <summary>One cached state: the exact token sequence from the zero state, the state after it and the logits it predicts.</summary>
internal sealed class CachedState(int[] tokens, RwkvState state, float[] logits)
{
    public int[] Tokens { get; } = tokens;

    public RwkvState State { get; } = state;

    public float[] Logits { get; } = logits;

    /// <summary>Memory the entry holds: state, logits and key.</summary>
    public long Bytes => StateCache.EntryBytes(State.Length, Logits.Length, Tokens.Length);
}

/// <summary>
/// States after token prefixes, so that a request whose prompt starts with a cached sequence (a follow-up chat turn,
/// a repeated system prompt) prefills only the rest. Least recently used entries go first once the entries' bytes pass
/// the budget. Optionally mirrored to a folder (<see cref="StateStore"/>) so a restart keeps them.
/// </summary>
/// <remarks>Used from the scheduler's thread; the counters may be read from any thread.</remarks>
internal sealed class StateCache
{
    private readonly LinkedList<CachedState> _entries = []; // most recently used first
    private readonly StateStore? _store;
    private long _hits;
    private long _misses;
    private long _bytes;
    private int _count;

    public StateCache(long budgetBytes, StateStore? store = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(budgetBytes);
        BudgetBytes = budgetBytes;
        _store = store;
        if (store is not null)
        {
            foreach (CachedState entry in store.LoadAll(budgetBytes))
            {
                _entries.AddLast(entry);
                _bytes += entry.Bytes;
                _count++;
            }
        }
    }

    public long BudgetBytes { get; }

    public long Bytes => Interlocked.Read(ref _bytes);

    public int Count => Volatile.Read(ref _count);

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Bytes an entry of <paramref name="stateFloats"/>, <paramref name="logits"/> and <paramref name="tokens"/> holds.</summary>
    public static long EntryBytes(int stateFloats, int logits, int tokens) => sizeof(float) * ((long)stateFloats + logits + tokens);

    /// <summary>
    /// Finds the longest entry whose tokens begin <paramref name="prompt"/>, copies its state into
    /// <paramref name="target"/> and its logits into <paramref name="logits"/>, and returns how many prompt tokens it
    /// covers (0, targets untouched, when none does).
    /// </summary>
    public int TryRestore(ReadOnlySpan<int> prompt, RwkvState target, Span<float> logits)
    {
        LinkedListNode<CachedState>? best = null;
        for (LinkedListNode<CachedState>? node = _entries.First; node is not null; node = node.Next)
        {
            int[] key = node.Value.Tokens;
            if (key.Length <= prompt.Length && (best is null || key.Length > best.Value.Tokens.Length) && prompt.StartsWith(key))
            {
                best = node;
            }
        }

        if (best is null)
        {
            Interlocked.Increment(ref _misses);
            return 0;
        }

        Interlocked.Increment(ref _hits);
        _entries.Remove(best);
        _entries.AddFirst(best);
        target.CopyFrom(best.Value.State);
        best.Value.Logits.CopyTo(logits);
        return best.Value.Tokens.Length;
    }

    /// <summary>Keeps copies of <paramref name="state"/> and <paramref name="logits"/> as the state after <paramref name="tokens"/>.</summary>
    public void Store(int[] tokens, RwkvState state, ReadOnlySpan<float> logits)
    {
        if (tokens.Length == 0 || EntryBytes(state.Length, logits.Length, tokens.Length) > BudgetBytes)
        {
            return;
        }

        for (LinkedListNode<CachedState>? node = _entries.First; node is not null; node = node.Next)
        {
            if (node.Value.Tokens.AsSpan().SequenceEqual(tokens))
            {
                _entries.Remove(node);
                _entries.AddFirst(node);
                return;
            }
        }

        var entry = new CachedState(tokens, state.Clone(), logits.ToArray());
        _entries.AddFirst(entry);
        Interlocked.Add(ref _bytes, entry.Bytes);
        Interlocked.Increment(ref _count);
        _store?.Save(entry);
        while (_bytes > BudgetBytes && _entries.Last is { } oldest)
        {
            _entries.RemoveLast();
            Interlocked.Add(ref _bytes, -oldest.Value.Bytes);
            Interlocked.Decrement(ref _count);
            _store?.Delete(oldest.Value);
        }
    }
}
