using Rwkv7.Gen.Platform;

namespace Rwkv7.Gen;

/// <summary>
/// The recurrent state of one sequence: per layer, the time-mix token-shift vector (<c>att_x</c>, D floats), the
/// channel-mix token-shift vector (<c>ffn_x</c>, D floats) and H WKV matrices of 64×64. Its size is fixed by the
/// shape, however long the context.
/// </summary>
/// <remarks>
/// Memory layout, per layer: <c>att_x[D]</c>, <c>ffn_x[D]</c>, then <c>wkv[H][j][i]</c>, where i is the value
/// channel and j the key channel. This is the transpose of the reference code's S[i][j] (the fixtures' layout):
/// stored key-major, the 64 value channels for one key channel are contiguous, so the update vectorizes over i
/// with broadcasts and no horizontal sums. <see cref="GetWkv"/>, <see cref="CopyWkvCanonicalTo"/> and
/// <see cref="SetWkvCanonical"/> speak the canonical S[i][j] order. Every layer block starts 64-byte aligned.
/// </remarks>
public sealed class RwkvState
{
    private readonly LineBuffer<float> _data;

    /// <summary>Creates the all-zero state for <paramref name="shape"/>.</summary>
    public RwkvState(ModelShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        Shape = shape;
        LayerStride = shape.StateFloatsPerLayer;
        Length = checked(LayerStride * shape.Layers);
        _data = LineBuffer<float>.Allocate(Length);
    }

    /// <summary>The shape this state belongs to.</summary>
    public ModelShape Shape { get; }

    /// <summary>Floats per layer block.</summary>
    public int LayerStride { get; }

    /// <summary>Total floats.</summary>
    public int Length { get; }

    /// <summary>All state floats, layer by layer, in the memory layout described on the type.</summary>
    public Span<float> Data => _data.Span;

    /// <summary>Time-mix token-shift vector of <paramref name="layer"/> (the previous token's ln1 output).</summary>
    public Span<float> AttX(int layer) => Data.Slice(Offset(layer), Shape.Embedding);

    /// <summary>Channel-mix token-shift vector of <paramref name="layer"/> (the previous token's ln2 output).</summary>
    public Span<float> FfnX(int layer) => Data.Slice(Offset(layer) + Shape.Embedding, Shape.Embedding);

    /// <summary>All WKV matrices of <paramref name="layer"/>, [H][j][i] (key-major).</summary>
    public Span<float> Wkv(int layer) => Data.Slice(Offset(layer) + (2 * Shape.Embedding), Shape.Heads * HeadArea);

    /// <summary>One head's WKV matrix, [j][i] (key-major).</summary>
    public Span<float> WkvHead(int layer, int head) => Wkv(layer).Slice(head * HeadArea, HeadArea);

    /// <summary>Element S[i][j] of a head's state in the canonical (value row i, key column j) sense.</summary>
    public float GetWkv(int layer, int head, int valueIndex, int keyIndex) =>
        WkvHead(layer, head)[(keyIndex * Shape.HeadSize) + valueIndex];

    /// <summary>Copies a layer's WKV state out in canonical [H][i][j] order.</summary>
    public void CopyWkvCanonicalTo(int layer, Span<float> destination) => Transpose(Wkv(layer), destination);

    /// <summary>Sets a layer's WKV state from canonical [H][i][j] order.</summary>
    public void SetWkvCanonical(int layer, ReadOnlySpan<float> source) => Transpose(source, Wkv(layer));

    /// <summary>Resets to the all-zero state.</summary>
    public void Reset() => Data.Clear();

    /// <summary>Copies <paramref name="other"/> (of the same shape) into this state.</summary>
    public void CopyFrom(RwkvState other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (!IsCompatible(other.Shape))
        {
            throw new ArgumentException($"State of shape {other.Shape} cannot be copied into a state of shape {Shape}.", nameof(other));
        }

        other.Data.CopyTo(Data);
    }

    /// <summary>A deep copy: later steps on either state do not affect the other.</summary>
    public RwkvState Clone()
    {
        var copy = new RwkvState(Shape);
        Data.CopyTo(copy.Data);
        return copy;
    }

    /// <summary>Whether a state of <paramref name="shape"/> has the same layout (layers, embedding, heads).</summary>
    public bool IsCompatible(ModelShape shape) =>
        shape.Layers == Shape.Layers && shape.Embedding == Shape.Embedding && shape.HeadSize == Shape.HeadSize;

    private int HeadArea => Shape.HeadSize * Shape.HeadSize;

    private int Offset(int layer)
    {
        if ((uint)layer >= (uint)Shape.Layers)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"The model has {Shape.Layers} layers.");
        }

        return layer * LayerStride;
    }

    private void Transpose(ReadOnlySpan<float> source, Span<float> destination)
    {
        int n = Shape.HeadSize;
        int area = n * n;
        if (source.Length != Shape.Heads * area || destination.Length != source.Length)
        {
            throw new ArgumentException($"A layer's WKV state holds {Shape.Heads}×{n}×{n} floats.");
        }

        for (int h = 0; h < Shape.Heads; h++)
        {
            ReadOnlySpan<float> s = source.Slice(h * area, area);
            Span<float> d = destination.Slice(h * area, area);
            for (int a = 0; a < n; a++)
            {
                for (int b = 0; b < n; b++)
                {
                    d[(b * n) + a] = s[(a * n) + b];
                }
            }
        }
    }
}
