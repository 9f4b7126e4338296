using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rwkv7.Gen.Text;

/// <summary>
/// A trie over token bytes for greedy longest-match encoding, frozen into flat arrays: nodes with many children
/// get a 256-entry table (one load per byte), the rest a short sorted list of edge labels scanned in place.
/// Encoding allocates nothing.
/// </summary>
/// <remarks>
/// The World vocabulary gives about 116,000 nodes; only about 1,400 have <see cref="DenseThreshold"/> or more
/// children, and those are the ones near the root that every token passes through.
/// </remarks>
internal sealed class ByteTrie
{
    /// <summary>Nodes with at least this many children use a 256-entry table instead of an edge list.</summary>
    public const int DenseThreshold = 8;

    /// <summary>"No child": node 0 is the root and never anyone's child.</summary>
    private const int NoChild = 0;

    /// <summary><see cref="Node.ChildCount"/> of a node whose children live in <see cref="_dense"/>.</summary>
    private const int DenseMarker = -1;

    private const int Root = 0;

    private readonly Node[] _nodes;
    private readonly byte[] _labels;   // sparse nodes' edge labels, sorted, per node contiguous
    private readonly int[] _targets;   // child node for each label
    private readonly int[] _dense;     // [dense node][256] child node or NoChild

    /// <param name="bytes">Every token's bytes, back to back in id order.</param>
    /// <param name="offsets">Token id's bytes are <c>bytes[offsets[id]..offsets[id + 1]]</c>; empty ones are skipped.</param>
    /// <param name="duplicate">Called with (first id, second id) when two ids have the same bytes.</param>
    public ByteTrie(ReadOnlySpan<byte> bytes, ReadOnlySpan<int> offsets, Action<int, int> duplicate)
    {
        // Build with a hash of edges, then freeze.
        var edges = new Dictionary<long, int>();
        var tokenIds = new List<int> { -1 };
        var childCounts = new List<int> { 0 };
        for (int id = 0; id + 1 < offsets.Length; id++)
        {
            ReadOnlySpan<byte> token = bytes[offsets[id]..offsets[id + 1]];
            if (token.IsEmpty)
            {
                continue;
            }

            int node = Root;
            foreach (byte b in token)
            {
                long key = ((long)node << 8) | b;
                if (!edges.TryGetValue(key, out int child))
                {
                    child = tokenIds.Count;
                    tokenIds.Add(-1);
                    childCounts.Add(0);
                    childCounts[node]++;
                    edges.Add(key, child);
                }

                node = child;
            }

            if (tokenIds[node] >= 0)
            {
                duplicate(tokenIds[node], id);
            }

            tokenIds[node] = id;
        }

        _nodes = new Node[tokenIds.Count];
        int denseNodes = 0, sparseEdges = 0;
        for (int n = 0; n < _nodes.Length; n++)
        {
            int count = childCounts[n];
            _nodes[n].TokenId = tokenIds[n];
            if (count >= DenseThreshold || n == Root)
            {
                _nodes[n].ChildStart = denseNodes++ * 256;
                _nodes[n].ChildCount = DenseMarker;
            }
            else
            {
                _nodes[n].ChildStart = sparseEdges;
                sparseEdges += count;
            }
        }

        _dense = new int[denseNodes * 256];
        _labels = new byte[sparseEdges];
        _targets = new int[sparseEdges];
        var sorted = new List<KeyValuePair<long, int>>(edges);
        sorted.Sort(static (a, b) => a.Key.CompareTo(b.Key)); // by parent, then label
        foreach ((long key, int child) in sorted)
        {
            ref Node parent = ref _nodes[(int)(key >> 8)];
            byte label = (byte)key;
            if (parent.ChildCount == DenseMarker)
            {
                _dense[parent.ChildStart + label] = child;
            }
            else
            {
                int slot = parent.ChildStart + parent.ChildCount++;
                _labels[slot] = label;
                _targets[slot] = child;
            }
        }
    }

    /// <summary>Number of nodes, the root included.</summary>
    public int NodeCount => _nodes.Length;

    /// <summary>The id whose bytes are exactly <paramref name="b"/>, or -1.</summary>
    public int SingleByteToken(byte b)
    {
        int node = _dense[b];
        return node == NoChild ? -1 : _nodes[node].TokenId;
    }

    /// <summary>
    /// Greedy longest match: from each position takes the longest token that is a prefix of the rest. Every single
    /// byte must be a token (checked by the caller). <paramref name="ids"/> needs one slot per input byte.
    /// </summary>
    public int Encode(ReadOnlySpan<byte> input, Span<int> ids)
    {
        if (ids.Length < input.Length)
        {
            throw new ArgumentException($"The destination needs room for {input.Length} ids (one per byte).", nameof(ids));
        }

        ref Node nodes = ref MemoryMarshal.GetArrayDataReference(_nodes);
        ref int dense = ref MemoryMarshal.GetArrayDataReference(_dense);
        int count = 0, pos = 0, length = input.Length;
        while (pos < length)
        {
            int node = Unsafe.Add(ref dense, input[pos]); // the root is dense
            int best = Unsafe.Add(ref nodes, node).TokenId;
            int bestEnd = pos + 1;
            for (int i = pos + 1; i < length; i++)
            {
                node = Step(ref Unsafe.Add(ref nodes, node), input[i], ref dense);
                if (node == NoChild)
                {
                    break;
                }

                int token = Unsafe.Add(ref nodes, node).TokenId;
                if (token >= 0)
                {
                    best = token;
                    bestEnd = i + 1;
                }
            }

            ids[count++] = best;
            pos = bestEnd;
        }

        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Step(ref Node node, byte b, ref int dense)
    {
        int start = node.ChildStart;
        int count = node.ChildCount;
        if (count == DenseMarker)
        {
            return Unsafe.Add(ref dense, start + b);
        }

        ReadOnlySpan<byte> labels = _labels.AsSpan(start, count);
        for (int k = 0; k < labels.Length; k++)
        {
            if (labels[k] == b)
            {
                return _targets[start + k];
            }
        }

        return NoChild;
    }

    /// <summary>One trie node: the token that ends here (or -1) and where its children are.</summary>
    private struct Node
    {
        public int TokenId;
        public int ChildStart;  // index into _labels/_targets, or into _dense for a dense node
        public int ChildCount;  // number of sparse children, or DenseMarker
    }
}
