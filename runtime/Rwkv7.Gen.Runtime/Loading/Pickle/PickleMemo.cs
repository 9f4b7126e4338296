namespace Rwkv7.Gen.Loading.Pickle;

/// <summary>
/// The pickle memo (PUT/GET slots). Picklers number slots 0, 1, 2, … in order, so slots are kept in a list
/// (8 bytes each); out-of-order slot numbers, legal but never written by torch.save, fall back to a dictionary.
/// The number of slots is capped.
/// </summary>
internal sealed class PickleMemo(int maxEntries)
{
    private readonly List<object?> _dense = [];
    private Dictionary<uint, object?>? _sparse;

    /// <summary>Number of slots stored.</summary>
    public int Count => _dense.Count + (_sparse?.Count ?? 0);

    public void Put(uint index, object? value)
    {
        if (index < _dense.Count)
        {
            _dense[(int)index] = value;
            return;
        }

        if (_sparse is not null && _sparse.ContainsKey(index))
        {
            _sparse[index] = value;
            return;
        }

        if (Count >= maxEntries)
        {
            throw new InvalidPickleException($"more than {maxEntries} memo entries");
        }

        if (index == _dense.Count && _sparse is null)
        {
            _dense.Add(value);
        }
        else
        {
            _sparse ??= [];
            _sparse.Add(index, value);
        }
    }

    public object? Get(uint index)
    {
        if (index < _dense.Count)
        {
            return _dense[(int)index];
        }

        return _sparse is not null && _sparse.TryGetValue(index, out object? value)
            ? value
            : throw new InvalidPickleException($"memo entry {index} was never stored");
    }
}
