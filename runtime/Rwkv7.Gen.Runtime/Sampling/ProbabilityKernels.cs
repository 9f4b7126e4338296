using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Rwkv7.Gen.Sampling;

/// <summary>
/// The vocabulary-wide loops of sampling, vectorized: masked sums and counts, gathering the ids above a
/// threshold, and drawing an index in proportion to weights. Each has a Vector256 path, a Vector128 path and a
/// scalar tail; results do not depend on which runs except for float summation order.
/// </summary>
internal static class ProbabilityKernels
{
    /// <summary>Weights are summed in chunks of this many, so a draw walks one chunk, not the vocabulary.</summary>
    public const int DrawChunk = 1024;

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
    public static int Draw(ReadOnlySpan<float> weights, double uniform, Span<double> chunkSums)
    {
        int chunks = (weights.Length + DrawChunk - 1) / DrawChunk;
        double total = 0;
        for (int c = 0; c < chunks; c++)
        {
            chunkSums[c] = TensorPrimitives.Sum(Chunk(weights, c));
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
}
