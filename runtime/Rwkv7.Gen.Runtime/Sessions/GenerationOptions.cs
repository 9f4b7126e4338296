using Rwkv7.Gen.Sampling;

namespace Rwkv7.Gen.Sessions;

/// <summary>Limits and stop conditions of one call to <see cref="RwkvSession.Generate"/>.</summary>
public sealed record GenerationOptions
{
    /// <summary>Defaults: 256 tokens, no stop sequences, stop at end of text, the pip pipeline's sampling.</summary>
    public static GenerationOptions Default { get; } = new();

    /// <summary>The most tokens to generate. Default 256.</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>
    /// Text that ends the generation when it appears in the decoded output. It is matched on text, not tokens (so it
    /// is found however the model spells it), and it is not part of the result; the tokens that produced it have been
    /// fed to the model.
    /// </summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];

    /// <summary>Token ids that end the generation when drawn; they are neither fed to the model nor decoded.</summary>
    public IReadOnlyList<int> StopTokens { get; init; } = [];

    /// <summary>Whether drawing the tokenizer's end-of-text id (0 for World models) ends the generation. Default true.</summary>
    public bool StopAtEndOfText { get; init; } = true;

    /// <summary>How tokens are drawn.</summary>
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Default;

    /// <summary>Checks the values; throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxTokens, nameof(MaxTokens));
        ArgumentNullException.ThrowIfNull(StopSequences, nameof(StopSequences));
        ArgumentNullException.ThrowIfNull(StopTokens, nameof(StopTokens));
        ArgumentNullException.ThrowIfNull(Sampling, nameof(Sampling));
        foreach (string stop in StopSequences)
        {
            if (string.IsNullOrEmpty(stop))
            {
                throw new ArgumentException("Stop sequences must not be null or empty.", nameof(StopSequences));
            }
        }

        Sampling.Validate();
    }
}
