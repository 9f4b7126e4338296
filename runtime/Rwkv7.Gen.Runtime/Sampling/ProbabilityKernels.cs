using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Rwkv7.Gen.Sampling;

/// <summary>
/// The vocabulary-wide loops of sampling, vectorized: the maximum and its index, shifted exponentials, sums, masked
/// sums and counts, gathering the ids above a threshold, and drawing an index in proportion to weights. Each has vector
/// paths and a scalar tail (the exponentials a vector-padded one); results do not depend on which width runs except
/// for float summation order.
/// </summary>
internal static class ProbabilityKernels
{
    /// <summary>Weights are summed in chunks of this many, so a draw walks one chunk, not the vocabulary.</summary>
    public const int DrawChunk = 1024;

    /// <summary>
    /// The sum of <paramref name="values"/>, in <see cref="Vector{T}"/> lanes and then across them. Here and below,
    /// the vocabulary-wide loops a token's sampling runs are this assembly's, compiled optimized from the first call:
    /// <c>TensorPrimitives</c>' methods run unoptimized in a JIT process until they have been called often enough
    /// (docs/benchmarks.md, change 56).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Sum(ReadOnlySpan<float> values)
    {
        ref float r = ref MemoryMarshal.GetReference(values);
        Vector<float> acc = Vector<float>.Zero;
        int i = 0;
        for (; i + Vector<float>.Count <= values.Length; i += Vector<float>.Count)
        {
            acc += Vector.LoadUnsafe(ref r, (nuint)i);
        }

        float sum = Vector.Sum(acc);
        for (; i < values.Length; i++)
        {
            sum += Unsafe.Add(ref r, i);
        }

        return sum;
    }

    /// <summary>The largest of <paramref name="values"/> (not empty), or NaN if any is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Max(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
        {
            throw new ArgumentException("The maximum of no values.", nameof(values));
        }

        ref float r = ref MemoryMarshal.GetReference(values);
        Vector<float> max = new(float.NegativeInfinity);
        Vector<int> nan = Vector<int>.Zero;
        int i = 0;
        for (; i + Vector<float>.Count <= values.Length; i += Vector<float>.Count)
        {
            Vector<float> v = Vector.LoadUnsafe(ref r, (nuint)i);
            nan |= Vector.Equals(v, v) ^ Vector<int>.AllBitsSet;
            max = Vector.Max(max, v);
        }

        if (nan != Vector<int>.Zero)
        {
            return float.NaN;
        }

        float m = float.NegativeInfinity;
        for (int k = 0; k < Vector<float>.Count; k++)
        {
            m = Math.Max(m, max[k]);
        }

        for (; i < values.Length; i++)
        {
            float v = Unsafe.Add(ref r, i);
            if (float.IsNaN(v))
            {
                return float.NaN;
            }

            m = Math.Max(m, v);
        }

        return m;
    }

    /// <summary>The index of the first NaN in <paramref name="values"/> (not empty) if there is one, else of the first largest value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int IndexOfMax(ReadOnlySpan<float> values)
    {
        float max = Max(values);
        if (float.IsNaN(max))
        {
            for (int k = 0; ; k++)
            {
                if (float.IsNaN(values[k]))
                {
                    return k;
                }
            }
        }

        ref float r = ref MemoryMarshal.GetReference(values);
        Vector<float> target = new(max);
        int i = 0;
        for (; i + Vector<float>.Count <= values.Length; i += Vector<float>.Count)
        {
            if (Vector.EqualsAny(Vector.LoadUnsafe(ref r, (nuint)i), target))
            {
                break;
            }
        }

        for (; ; i++)
        {
            if (Unsafe.Add(ref r, i) == max)
            {
                return i;
            }
        }
    }

    /// <summary>
    /// <paramref name="destination"/>[i] = e^((<paramref name="x"/>[i] − <paramref name="shift"/>) · <paramref name="scale"/>):
    /// the same roundings as a subtraction, a multiplication (exact for a scale of 1) and an exponential in turn, and e⁰
    /// exactly 1 (the vector exponential reads 1 + 2⁻²³ there), so the largest logit's weight is exactly 1.
    /// </summary>
    public static void ExpShifted(ReadOnlySpan<float> x, float shift, float scale, Span<float> destination) =>
        Elementwise.Map<ShiftedExp>(x, destination, shift, scale);

    /// <summary>Sum and count of the values at or above <paramref name="threshold"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float SumAtLeast(ReadOnlySpan<float> values, float threshold, out int count)
    {
        int i = 0, n = 0;
        float sum = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= Vector256<float>.Count)
        {
            Vector256<float> t = Vector256.Create(threshold);
            Vector256<float> sums = Vector256<float>.Zero;
            Vector256<int> counts = Vector256<int>.Zero;
            for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                Vector256<float> v = Vector256.Create(values.Slice(i, Vector256<float>.Count));
                Vector256<float> keep = Vector256.GreaterThanOrEqual(v, t);
                sums += v & keep;
                counts -= keep.AsInt32(); // a kept lane is all ones, i.e. -1
            }

            sum = Vector256.Sum(sums);
            n = Vector256.Sum(counts);
        }
        else if (Vector128.IsHardwareAccelerated && values.Length >= Vector128<float>.Count)
        {
            Vector128<float> t = Vector128.Create(threshold);
            Vector128<float> sums = Vector128<float>.Zero;
            Vector128<int> counts = Vector128<int>.Zero;
            for (; i <= values.Length - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                Vector128<float> v = Vector128.Create(values.Slice(i, Vector128<float>.Count));
                Vector128<float> keep = Vector128.GreaterThanOrEqual(v, t);
                sums += v & keep;
                counts -= keep.AsInt32();
            }

            sum = Vector128.Sum(sums);
            n = Vector128.Sum(counts);
        }

        for (; i < values.Length; i++)
        {
            if (values[i] >= threshold)
            {
                sum += values[i];
                n++;
            }
        }

        count = n;
        return sum;
    }

    /// <summary>Writes the indices of the values at or above <paramref name="threshold"/>, in order; returns how many.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int GatherAtLeast(ReadOnlySpan<float> values, float threshold, Span<int> indices)
    {
        int i = 0, m = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= Vector256<float>.Count)
        {
            Vector256<float> t = Vector256.Create(threshold);
            for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                uint bits = Vector256.GreaterThanOrEqual(Vector256.Create(values.Slice(i, Vector256<float>.Count)), t).ExtractMostSignificantBits();
                for (; bits != 0; bits &= bits - 1)
                {
                    indices[m++] = i + System.Numerics.BitOperations.TrailingZeroCount(bits);
                }
            }
        }
        else if (Vector128.IsHardwareAccelerated && values.Length >= Vector128<float>.Count)
        {
            Vector128<float> t = Vector128.Create(threshold);
            for (; i <= values.Length - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                uint bits = Vector128.GreaterThanOrEqual(Vector128.Create(values.Slice(i, Vector128<float>.Count)), t).ExtractMostSignificantBits();
                for (; bits != 0; bits &= bits - 1)
                {
                    indices[m++] = i + System.Numerics.BitOperations.TrailingZeroCount(bits);
                }
            }
        }

        for (; i < values.Length; i++)
        {
            if (values[i] >= threshold)
            {
                indices[m++] = i;
            }
        }

        return m;
    }

    /// <summary>Sets <c>weights[i] = 0</c> wherever <c>probabilities[i] &lt; threshold</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ZeroBelow(Span<float> weights, ReadOnlySpan<float> probabilities, float threshold)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> t = Vector256.Create(threshold);
            for (; i <= weights.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                Vector256<float> keep = Vector256.GreaterThanOrEqual(Vector256.Create(probabilities.Slice(i, Vector256<float>.Count)), t);
                (Vector256.Create(weights.Slice(i, Vector256<float>.Count)) & keep).CopyTo(weights.Slice(i, Vector256<float>.Count));
            }
        }

        for (; i < weights.Length; i++)
        {
            if (probabilities[i] < threshold)
            {
                weights[i] = 0;
            }
        }
    }

    /// <summary>
    /// An index drawn with probability proportional to <paramref name="weights"/> (non-negative, not all zero), for a
    /// uniform number in [0, 1). Chunk sums locate the chunk, then one chunk is walked.
    /// </summary>
    /// <param name="weights">[V] non-negative weights.</param>
    /// <param name="uniform">A uniform draw in [0, 1).</param>
    /// <param name="chunkSums">Scratch of at least ceil(V / <see cref="DrawChunk"/>) entries.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Draw(ReadOnlySpan<float> weights, double uniform, Span<double> chunkSums)
    {
        int chunks = (weights.Length + DrawChunk - 1) / DrawChunk;
        double total = 0;
        for (int c = 0; c < chunks; c++)
        {
            chunkSums[c] = Sum(Chunk(weights, c));
            total += chunkSums[c];
        }

        double u = uniform * total;
        for (int c = 0; c < chunks; c++)
        {
            if (chunkSums[c] <= 0)
            {
                continue;
            }

            if (u >= chunkSums[c])
            {
                u -= chunkSums[c];
                continue;
            }

            ReadOnlySpan<float> chunk = Chunk(weights, c);
            int lastPositive = -1;
            for (int k = 0; k < chunk.Length; k++)
            {
                if (chunk[k] > 0)
                {
                    lastPositive = (c * DrawChunk) + k;
                    u -= chunk[k];
                    if (u < 0)
                    {
                        return lastPositive;
                    }
                }
            }

            return lastPositive; // summation order left u a hair above the chunk's sum
        }

        return LastPositive(weights); // the same, on the last chunk with weight
    }

    private static ReadOnlySpan<float> Chunk(ReadOnlySpan<float> weights, int c) =>
        weights.Slice(c * DrawChunk, Math.Min(DrawChunk, weights.Length - (c * DrawChunk)));

    private static int LastPositive(ReadOnlySpan<float> weights)
    {
        for (int i = weights.Length - 1; i >= 0; i--)
        {
            if (weights[i] > 0)
            {
                return i;
            }
        }

        throw new InvalidOperationException("Every weight is zero: nothing can be drawn.");
    }

    /// <summary>e^((x − a) · b), with e⁰ exactly 1.</summary>
    private readonly struct ShiftedExp : IElementwise
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b)
        {
            Vector512<float> v = (x - a) * b;
            return Vector512.ConditionalSelect(Vector512.Equals(v, Vector512<float>.Zero), Vector512<float>.One, Vector512.Exp(v));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
        {
            Vector256<float> v = (x - a) * b;
            return Vector256.ConditionalSelect(Vector256.Equals(v, Vector256<float>.Zero), Vector256<float>.One, Vector256.Exp(v));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Apply(Vector128<float> x, Vector128<float> a, Vector128<float> b)
        {
            Vector128<float> v = (x - a) * b;
            return Vector128.ConditionalSelect(Vector128.Equals(v, Vector128<float>.Zero), Vector128<float>.One, Vector128.Exp(v));
        }
    }
}
