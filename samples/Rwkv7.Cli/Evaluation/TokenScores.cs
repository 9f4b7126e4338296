using System.Numerics.Tensors;

namespace Rwkv7.Cli.Evaluation;

/// <summary>How well one row of logits predicted the token that came next.</summary>
internal static class TokenScores
{
    /// <summary>
    /// −log softmax(<paramref name="logits"/>)[<paramref name="target"/>] in nats, computed as
    /// log Σ exp(x − max) + max − x[target] so no exponential overflows.
    /// </summary>
    /// <param name="logits">[V] one row of logits.</param>
    /// <param name="target">The token that came next.</param>
    /// <param name="scratch">[V] workspace.</param>
    public static double NegativeLogLikelihood(ReadOnlySpan<float> logits, int target, Span<float> scratch)
    {
        float max = TensorPrimitives.Max(logits);
        scratch = scratch[..logits.Length];
        TensorPrimitives.Subtract(logits, max, scratch);
        TensorPrimitives.Exp(scratch, scratch);
        double sum = TensorPrimitives.Sum<float>(scratch);
        return Math.Log(sum) + max - logits[target];
    }

    /// <summary>Whether greedy decoding picks <paramref name="target"/> (the lowest id wins ties, as in the sampler).</summary>
    public static bool IsGreedyChoice(ReadOnlySpan<float> logits, int target) => TensorPrimitives.IndexOfMax(logits) == target;
}
