namespace Rwkv7.Gen.Sessions;

/// <summary>Why a generation ended.</summary>
public enum GenerationStopReason
{
    /// <summary><see cref="GenerationOptions.MaxTokens"/> tokens were generated.</summary>
    MaxTokens,

    /// <summary>A stop sequence appeared in the text.</summary>
    StopSequence,

    /// <summary>A stop token (or end of text) was drawn.</summary>
    StopToken,
}

/// <summary>The outcome of one generation.</summary>
/// <param name="Text">The text produced, without the stop sequence.</param>
/// <param name="Tokens">The tokens generated and fed to the model (a stop token is not among them).</param>
/// <param name="StopReason">Why it ended.</param>
/// <param name="StopSequence">The stop sequence found, when <paramref name="StopReason"/> says so.</param>
/// <param name="StopToken">The stop token drawn, when <paramref name="StopReason"/> says so.</param>
public sealed record GenerationResult(
    string Text, IReadOnlyList<int> Tokens, GenerationStopReason StopReason, string? StopSequence = null, int? StopToken = null);
