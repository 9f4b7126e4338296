using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Sessions;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Chat;

/// <summary>
/// An <see cref="IChatClient"/> over a local RWKV-7 model, so a .NET AI application can swap it in for a hosted
/// model. Messages are written in the G1 chat template (<see cref="G1ChatFormat"/>); a reply ends at the blank line
/// that closes the assistant's turn; end of text is banned.
/// </summary>
/// <remarks>
/// <para>RWKV carries the whole conversation in a fixed-size state, so the client keeps a session per conversation
/// (up to <see cref="RwkvChatClientOptions.Conversations"/>, least recently used dropped first) and, when a request
/// repeats a conversation it holds (the usual chat loop: the previous messages, the reply it gave, one new user
/// message), feeds only the new turn. Several users' conversations can go through one client without re-reading
/// each other's histories. Any other conversation starts from the zero state (leading system messages then come
/// from <see cref="RwkvChatClientOptions.PromptCache"/> when one is set).</para>
/// <para>With <see cref="ChatThinking.On"/> the model's think block comes back as <see cref="TextReasoningContent"/>
/// (streamed as it is written) and only the answer as text; a conversation sent back with the reply continues from
/// the state without re-reading it, and one rebuilt from scratch renders earlier assistant turns without their
/// reasoning.</para>
/// <para>Requests are served one at a time. Text content only: tools, images and function results are refused
/// with <see cref="NotSupportedException"/>; a required tool call likewise. The client does not own the model.</para>
/// </remarks>
public sealed class RwkvChatClient : IChatClient
{
    private const string ProviderName = "Rwkv7.Gen";

    private readonly RwkvModel _model;
    private readonly RwkvTokenizer _tokenizer;
    private readonly RwkvChatClientOptions _options;
    private readonly SamplingOptions _sampling;
    private readonly ChatClientMetadata _metadata;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<Conversation> _conversations = []; // most recently used first

    /// <summary>Creates a chat client over <paramref name="model"/> (not owned) and its tokenizer.</summary>
    public RwkvChatClient(RwkvModel model, RwkvTokenizer tokenizer, RwkvChatClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        _options = options ?? new RwkvChatClientOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(_options.MaxOutputTokens, nameof(RwkvChatClientOptions.MaxOutputTokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(_options.Conversations, nameof(RwkvChatClientOptions.Conversations));
        _model = model;
        _tokenizer = tokenizer;
        _sampling = BanEndOfText(_options.Sampling, tokenizer);
        _sampling.Validate(model.Shape.Vocab);
        _metadata = new ChatClientMetadata(ProviderName, providerUri: null, defaultModelId: _options.ModelId);
    }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        List<ChatTurn> turns = ReadTurns(messages, options);
        GenerationOptions generation = GenerationFor(options);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await Task.Run(() => Respond(turns, generation, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        List<ChatTurn> turns = ReadTurns(messages, options);
        GenerationOptions generation = GenerationFor(options);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            (Conversation conversation, int inputTokens) = await Task.Run(() => PrepareConversation(turns, cancellationToken), cancellationToken).ConfigureAwait(false);
            string responseId = NewId(), messageId = NewId();
            DateTimeOffset created = DateTimeOffset.UtcNow;
            var splitter = new ReplySplitter(_options.Thinking);
            var parts = new List<ReplyPart>();
            var answer = new StringBuilder();
            bool finished = false;
            try
            {
                await foreach (string piece in conversation.Session.GenerateStreamingAsync(generation, cancellationToken).ConfigureAwait(false))
                {
                    parts.Clear();
                    splitter.Push(piece, parts);
                    foreach (ReplyPart part in parts)
                    {
                        yield return Update(part, answer, responseId, messageId, created);
                    }
                }

                parts.Clear();
                splitter.Finish(parts);
                foreach (ReplyPart part in parts)
                {
                    yield return Update(part, answer, responseId, messageId, created);
                }

                finished = true;
            }
            finally
            {
                if (!finished)
                {
                    conversation.Turns = null; // the session holds part of a reply nobody saw: start over next time
                }
            }

            GenerationResult result = conversation.Session.LastGeneration!;
            conversation.Record(turns, answer.ToString(), result);
            yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(Usage(inputTokens, result))])
            {
                ResponseId = responseId, MessageId = messageId, ModelId = _options.ModelId, CreatedAt = created,
                FinishReason = FinishReasonOf(result),
            };
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        if (serviceType == typeof(ChatClientMetadata))
        {
            return _metadata;
        }

        if (serviceType == typeof(RwkvModel))
        {
            return _model;
        }

        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <inheritdoc />
    public void Dispose() => _gate.Dispose();

    private ChatResponse Respond(List<ChatTurn> turns, GenerationOptions generation, CancellationToken cancellationToken)
    {
        (Conversation conversation, int inputTokens) = PrepareConversation(turns, cancellationToken);
        GenerationResult result;
        try
        {
            result = conversation.Session.Generate(generation, cancellationToken);
        }
        catch
        {
            conversation.Turns = null;
            throw;
        }

        (string reasoning, string answer) = ReplySplitter.Split(_options.Thinking, result.Text);
        conversation.Record(turns, answer, result);
        List<AIContent> contents = reasoning.Length > 0 ? [new TextReasoningContent(reasoning), new TextContent(answer)] : [new TextContent(answer)];
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, contents))
        {
            ResponseId = NewId(),
            ModelId = _options.ModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = FinishReasonOf(result),
            Usage = Usage(inputTokens, result),
        };
    }

    /// <summary>
    /// Brings a session to the point where the model writes the reply to <paramref name="turns"/>: the held
    /// conversation that <paramref name="turns"/> continues (the longest, if several do), else a fresh one. Returns
    /// it and the number of tokens appended.
    /// </summary>
    private (Conversation Conversation, int InputTokens) PrepareConversation(List<ChatTurn> turns, CancellationToken cancellationToken)
    {
        Conversation? held = null;
        foreach (Conversation c in _conversations)
        {
            if (c.Continues(turns) && (held is null || c.Turns!.Count > held.Turns!.Count))
            {
                held = c;
            }
        }

        Conversation conversation = held ?? Vacant();
        _conversations.Remove(conversation);
        _conversations.Insert(0, conversation);
        RwkvSession session = conversation.Session;
        int first = held?.Turns!.Count ?? 0;
        conversation.Turns = null; // until the reply is recorded, the session matches no complete conversation
        var prompt = new StringBuilder();
        int before;
        if (held is not null)
        {
            before = session.History!.Count;
            if (!held.AtTurnBoundary)
            {
                prompt.Append(G1ChatFormat.TurnSeparator); // the last reply was cut short: close its turn
            }
        }
        else
        {
            session.Reset();
            before = 0;
            while (first < turns.Count && turns[first].Role == G1ChatFormat.SystemRole)
            {
                // One append per system turn, so shared system prompts come from the prompt cache.
                session.Append(Render(turns[first]), cacheable: session.Cache is not null, cancellationToken);
                first++;
            }
        }

        for (int i = first; i < turns.Count; i++)
        {
            prompt.Append(Render(turns[i]));
        }

        prompt.Append(G1ChatFormat.AssistantPrompt(_options.Thinking));
        session.Append(prompt.ToString(), cancellationToken: cancellationToken);
        return (conversation, session.History!.Count - before);
    }

    /// <summary>
    /// A conversation to start afresh in: one that holds nothing reusable, else a new one while there is room, else
    /// the least recently used.
    /// </summary>
    private Conversation Vacant()
    {
        Conversation? unusable = _conversations.LastOrDefault(c => c.Turns is null);
        if (unusable is not null)
        {
            return unusable;
        }

        if (_conversations.Count < _options.Conversations)
        {
            return new Conversation(new RwkvSession(_model, _tokenizer, _options.PromptCache));
        }

        return _conversations[^1];
    }

    /// <summary>A streamed part as an update: reasoning as <see cref="TextReasoningContent"/>, the answer as text.</summary>
    private ChatResponseUpdate Update(ReplyPart part, StringBuilder answer, string responseId, string messageId, DateTimeOffset created)
    {
        AIContent content = part.IsReasoning ? new TextReasoningContent(part.Text) : new TextContent(part.Text);
        if (!part.IsReasoning)
        {
            answer.Append(part.Text);
        }

        return new ChatResponseUpdate(ChatRole.Assistant, [content])
        {
            ResponseId = responseId, MessageId = messageId, ModelId = _options.ModelId, CreatedAt = created,
        };
    }

    private GenerationOptions GenerationFor(ChatOptions? options)
    {
        if (options?.ToolMode is RequiredChatToolMode)
        {
            throw new NotSupportedException("RWKV chat cannot call tools: a required tool call cannot be honoured.");
        }

        SamplingOptions sampling = _sampling;
        if (options is not null)
        {
            sampling = sampling with
            {
                Temperature = options.Temperature ?? sampling.Temperature,
                TopP = options.TopP ?? sampling.TopP,
                TopK = options.TopK ?? sampling.TopK,
                PresencePenalty = options.PresencePenalty ?? sampling.PresencePenalty,
                FrequencyPenalty = options.FrequencyPenalty ?? sampling.FrequencyPenalty,
                Seed = options.Seed ?? sampling.Seed,
            };
        }

        var generation = new GenerationOptions
        {
            MaxTokens = options?.MaxOutputTokens ?? _options.MaxOutputTokens,
            StopSequences = [G1ChatFormat.TurnSeparator, .. options?.StopSequences ?? []],
            Sampling = sampling,
        };
        generation.Validate();
        return generation;
    }

    private static List<ChatTurn> ReadTurns(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new List<ChatTurn>();
        if (!string.IsNullOrWhiteSpace(options?.Instructions))
        {
            turns.Add(new ChatTurn(G1ChatFormat.SystemRole, G1ChatFormat.CleanContent(options.Instructions)));
        }

        foreach (ChatMessage message in messages)
        {
            ArgumentNullException.ThrowIfNull(message, nameof(messages));
            foreach (AIContent content in message.Contents)
            {
                if (content is not (TextContent or TextReasoningContent or UsageContent))
                {
                    throw new NotSupportedException($"RWKV chat handles text only; a {message.Role} message holds {content.GetType().Name}.");
                }
            }

            turns.Add(new ChatTurn(RoleName(message.Role), G1ChatFormat.CleanContent(message.Text)));
        }

        if (turns.Count == 0)
        {
            throw new ArgumentException("There are no messages to reply to.", nameof(messages));
        }

        if (turns[^1].Role == G1ChatFormat.AssistantRole)
        {
            throw new ArgumentException("The last message is the assistant's: there is nothing to reply to.", nameof(messages));
        }

        return turns;
    }

    /// <summary>A session and the conversation it holds.</summary>
    private sealed class Conversation(RwkvSession session)
    {
        public RwkvSession Session { get; } = session;

        /// <summary>The turns the session holds, ending with a reply; null while a reply is written or when unknown.</summary>
        public List<ChatTurn>? Turns { get; set; }

        /// <summary>Whether the last reply ended its turn (otherwise the next request closes it first).</summary>
        public bool AtTurnBoundary { get; private set; } = true;

        /// <summary>Whether <paramref name="turns"/> is this conversation followed by at least one new message.</summary>
        public bool Continues(List<ChatTurn> turns) =>
            Turns is not null && Turns.Count < turns.Count && turns.Take(Turns.Count).SequenceEqual(Turns) && Session.HasLogits;

        /// <summary>
        /// Remembers the conversation the session now holds. The reply is keyed by its answer only, which is what
        /// <see cref="ChatMessage.Text"/> gives back when the caller sends the reply with the next request (the
        /// session itself keeps the reasoning it generated).
        /// </summary>
        public void Record(List<ChatTurn> turns, string reply, GenerationResult result)
        {
            Turns = [.. turns, new ChatTurn(G1ChatFormat.AssistantRole, G1ChatFormat.CleanContent(reply))];
            AtTurnBoundary = result.StopReason == GenerationStopReason.StopSequence && result.StopSequence == G1ChatFormat.TurnSeparator;
        }
    }

    private static string RoleName(ChatRole role)
    {
        if (role == ChatRole.System)
        {
            return G1ChatFormat.SystemRole;
        }

        if (role == ChatRole.User)
        {
            return G1ChatFormat.UserRole;
        }

        if (role == ChatRole.Assistant)
        {
            return G1ChatFormat.AssistantRole;
        }

        throw new NotSupportedException($"RWKV chat has no '{role}' role (only system, user and assistant).");
    }

    private static string Render(ChatTurn turn) => G1ChatFormat.Turn(turn.Role, turn.Text);

    private static SamplingOptions BanEndOfText(SamplingOptions sampling, RwkvTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(sampling);
        return tokenizer.EndOfTextId is int endOfText && !sampling.BannedTokens.Contains(endOfText)
            ? sampling with { BannedTokens = [.. sampling.BannedTokens, endOfText] }
            : sampling;
    }

    private static ChatFinishReason FinishReasonOf(GenerationResult result) =>
        result.StopReason == GenerationStopReason.MaxTokens ? ChatFinishReason.Length : ChatFinishReason.Stop;

    private static UsageDetails Usage(int inputTokens, GenerationResult result) => new()
    {
        InputTokenCount = inputTokens,
        OutputTokenCount = result.Tokens.Count,
        TotalTokenCount = inputTokens + result.Tokens.Count,
    };

    private static string NewId() => Guid.NewGuid().ToString("N");

    /// <summary>One message as the template sees it: the role name and the cleaned text.</summary>
    private sealed record ChatTurn(string Role, string Text);
}
