using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Sessions;

namespace Rwkv7.Gen.Chat;

/// <summary>Settings of an <see cref="RwkvChatClient"/>; a request's <c>ChatOptions</c> override the sampling values it sets.</summary>
public sealed class RwkvChatClientOptions
{
    /// <summary>
    /// The sampling of BlinkDL's chat demo (<c>API_DEMO_CHAT.py</c>): temperature 1.0, top-p 0.3, presence and
    /// frequency penalties 0.5 decaying by 0.996, every token counted. End of text (id 0) is always banned in chat.
    /// </summary>
    public static SamplingOptions DefaultSampling { get; } = new()
    {
        Temperature = 1.0f,
        TopP = 0.3f,
        PresencePenalty = 0.5f,
        FrequencyPenalty = 0.5f,
        PenaltyDecay = 0.996f,
        ExemptWhitespaceAndDigits = false,
    };

    /// <summary>Reported as the model id of responses. Default <c>rwkv7</c>.</summary>
    public string ModelId { get; init; } = "rwkv7";

    /// <summary>Reply length limit when a request sets none. Default 1024 tokens.</summary>
    public int MaxOutputTokens { get; init; } = 1024;

    /// <summary>Sampling when a request sets nothing.</summary>
    public SamplingOptions Sampling { get; init; } = DefaultSampling;

    /// <summary>How the assistant's turn is opened. Default <see cref="ChatThinking.Off"/>.</summary>
    public ChatThinking Thinking { get; init; } = ChatThinking.Off;

    /// <summary>Shared snapshots of system prompts (optional; must belong to the same model).</summary>
    public PromptCache? PromptCache { get; init; }

    /// <summary>
    /// How many conversations the client holds the state of. A request that continues any of them (its earlier
    /// messages and the reply the client gave, then new ones) feeds only the new messages; any other starts a new
    /// conversation, which replaces the one used least recently when all are taken. Each costs one model state
    /// (L × (2·D + 64·D) floats: 2.3 MiB for the 0.1B shape, 33 MiB for 7.2B) and one row of logits. Default 4; at
    /// least 1.
    /// </summary>
    public int Conversations { get; init; } = 4;
}
