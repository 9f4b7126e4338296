using System.Diagnostics;
using System.Threading.Channels;
using Rwkv7.Gen.Sampling;

namespace Rwkv7.Serving.Engine;

/// <summary>Why a generation ended, as OpenAI's <c>finish_reason</c> says it.</summary>
internal enum FinishReason
{
    /// <summary>A stop sequence or stop token (<c>stop</c>).</summary>
    Stop,

    /// <summary>The token limit (<c>length</c>).</summary>
    Length,
}

/// <summary>What a finished generation produced.</summary>
/// <param name="Text">The generated text, stop sequence excluded.</param>
/// <param name="Tokens">The generated tokens (those that made a stop sequence included, a stop token not).</param>
/// <param name="Reason">Why it ended.</param>
/// <param name="PromptTokens">Tokens in the prompt.</param>
/// <param name="CachedPromptTokens">Prompt tokens restored from the state cache instead of prefilled.</param>
/// <param name="StopSequence">The stop sequence that ended it, or null.</param>
internal sealed record GenerationOutcome(
    string Text, IReadOnlyList<int> Tokens, FinishReason Reason, int PromptTokens, int CachedPromptTokens, string? StopSequence);

/// <summary>Where the state after a reply goes in the cache.</summary>
/// <param name="Key">The tokens the state will stand for.</param>
/// <param name="Closing">Tokens to feed first so that the state reads what the key says (a chat turn cut short gets its blank line).</param>
internal sealed record ReplyCacheEntry(int[] Key, int[] Closing);

/// <summary>Why the server gave up on a request.</summary>
internal enum FailureKind
{
    /// <summary>The engine failed on this request (NaN logits, an exception): a 500.</summary>
    Engine,

    /// <summary>The server is stopping: a 503.</summary>
    Shutdown,
}

/// <summary>What the scheduler tells a request's HTTP handler, in order: text pieces, then one completion or failure.</summary>
internal abstract record GenerationEvent
{
    /// <summary>Text now safe to show (never inside a character, never part of a stop sequence).</summary>
    public sealed record Text(string Piece) : GenerationEvent;

    /// <summary>The generation ended normally.</summary>
    public sealed record Completed(GenerationOutcome Outcome) : GenerationEvent;

    /// <summary>The generation failed; text already sent stays sent.</summary>
    public sealed record Failed(FailureKind Kind, string Message) : GenerationEvent;
}

/// <summary>
/// One request to generate: a tokenized prompt and how to continue it. The HTTP handler creates it, hands it to the
/// <see cref="BatchScheduler"/> and reads <see cref="Events"/>; the scheduler's thread writes them.
/// </summary>
internal sealed class GenerationRequest
{
    private readonly Channel<GenerationEvent> _events =
        Channel.CreateUnbounded<GenerationEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    private volatile bool _cancelled;

    /// <summary>The prompt, in [0, V).</summary>
    public required int[] Prompt { get; init; }

    /// <summary>How tokens are drawn (bans included).</summary>
    public required SamplingOptions Sampling { get; init; }

    /// <summary>Most tokens to generate (at least 1).</summary>
    public required int MaxTokens { get; init; }

    /// <summary>Text that ends the generation; matched on decoded text and never shown.</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];

    /// <summary>Whether drawing the tokenizer's end-of-text token ends the generation (it is then not fed).</summary>
    public bool StopAtEndOfText { get; init; } = true;

    /// <summary>
    /// Where the state after the reply is cached, from the finished outcome, or null to keep none. Chat keys it by the
    /// conversation as the next request will send it back; completions by prompt and generated tokens.
    /// </summary>
    public Func<GenerationOutcome, ReplyCacheEntry?>? ReplyCacheKey { get; init; }

    /// <summary>When the request was accepted (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public long AcceptedTimestamp { get; } = Stopwatch.GetTimestamp();

    /// <summary>The events, for the one reader.</summary>
    public ChannelReader<GenerationEvent> Events => _events.Reader;

    /// <summary>Whether the client went away or gave up; the scheduler frees the slot at its next step.</summary>
    public bool IsCancelled => _cancelled;

    /// <summary>Asks the scheduler to drop the request (from any thread).</summary>
    public void Cancel() => _cancelled = true;

    /// <summary>Writes an event (scheduler thread).</summary>
    internal void Emit(GenerationEvent e) => _events.Writer.TryWrite(e);

    /// <summary>Ends the event stream (scheduler thread).</summary>
    internal void Close() => _events.Writer.TryComplete();
}
