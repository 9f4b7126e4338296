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
/// <para>RWKV carries the whole conversation in a fixed-size state, so the client keeps one session and, when a
/// request repeats the conversation it already holds (the usual chat loop: the previous messages, the reply it
/// gave, one new user message), feeds only the new turn. Any other conversation starts again from the zero state
/// (leading system messages then come from <see cref="RwkvChatClientOptions.PromptCache"/> when one is set).</para>
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

    private readonly RwkvSession _session;
    private readonly RwkvChatClientOptions _options;
    private readonly SamplingOptions _sampling;
    private readonly ChatClientMetadata _metadata;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private List<ChatTurn>? _consumed = [];  // the turns the session holds, ending with a reply; null when unknown
    private bool _atTurnBoundary = true;

    /// <summary>Creates a chat client over <paramref name="model"/> (not owned) and its tokenizer.</summary>
    public RwkvChatClient(RwkvModel model, RwkvTokenizer tokenizer, RwkvChatClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        _options = options ?? new RwkvChatClientOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(_options.MaxOutputTokens, nameof(RwkvChatClientOptions.MaxOutputTokens));
        _session = new RwkvSession(model, tokenizer, _options.PromptCache);
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
            int inputTokens = await Task.Run(() => PrepareConversation(turns, cancellationToken), cancellationToken).ConfigureAwait(false);
            string responseId = NewId(), messageId = NewId();
            DateTimeOffset created = DateTimeOffset.UtcNow;
            var splitter = new ReplySplitter(_options.Thinking);
            var parts = new List<ReplyPart>();
            var answer = new StringBuilder();
            bool finished = false;
            try
            {
                await foreach (string piece in _session.GenerateStreamingAsync(generation, cancellationToken).ConfigureAwait(false))
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
                    _consumed = null; // the session holds part of a reply nobody saw: start over next time
                }
            }

            GenerationResult result = _session.LastGeneration!;
            RecordReply(turns, answer.ToString(), result);
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
            return _session.Model;
        }

        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <inheritdoc />
    public void Dispose() => _gate.Dispose();

    private ChatResponse Respond(List<ChatTurn> turns, GenerationOptions generation, CancellationToken cancellationToken)
    {
        int inputTokens = PrepareConversation(turns, cancellationToken);
        GenerationResult result;
        try
        {
            result = _session.Generate(generation, cancellationToken);
        }
        catch
        {
            _consumed = null;
            throw;
        }

        (string reasoning, string answer) = ReplySplitter.Split(_options.Thinking, result.Text);
        RecordReply(turns, answer, result);
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
    /// Brings the session to the point where the model writes the reply to <paramref name="turns"/>; returns the
    /// number of tokens appended.
    /// </summary>
    private int PrepareConversation(List<ChatTurn> turns, CancellationToken cancellationToken)
    {
        List<ChatTurn>? held = _consumed;
        _consumed = null; // until the reply is recorded, the session matches no complete conversation
        var prompt = new StringBuilder();
        int first;
        int before;
        if (held is not null && held.Count < turns.Count && turns.Take(held.Count).SequenceEqual(held) && _session.HasLogits)
        {
            before = _session.History!.Count;
            first = held.Count;
            if (!_atTurnBoundary)
            {
                prompt.Append(G1ChatFormat.TurnSeparator); // the last reply was cut short: close its turn
            }
        }
        else
        {
            _session.Reset();
            before = 0;
            first = 0;
            while (first < turns.Count && turns[first].Role == G1ChatFormat.SystemRole)
            {
                // One append per system turn, so shared system prompts come from the prompt cache.
                _session.Append(Render(turns[first]), cacheable: _session.Cache is not null, cancellationToken);
                first++;
            }
        }

        for (int i = first; i < turns.Count; i++)
        {
            prompt.Append(Render(turns[i]));
        }

        prompt.Append(G1ChatFormat.AssistantPrompt(_options.Thinking));
        _session.Append(prompt.ToString(), cancellationToken: cancellationToken);
        return _session.History!.Count - before;
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

    /// <summary>
    /// Remembers the conversation the session now holds. The reply is keyed by its answer only, which is what
    /// <see cref="ChatMessage.Text"/> gives back when the caller sends the reply with the next request (the session
    /// itself keeps the reasoning it generated).
    /// </summary>
    private void RecordReply(List<ChatTurn> turns, string reply, GenerationResult result)
    {
        _consumed = [.. turns, new ChatTurn(G1ChatFormat.AssistantRole, G1ChatFormat.CleanContent(reply))];
        _atTurnBoundary = result.StopReason == GenerationStopReason.StopSequence && result.StopSequence == G1ChatFormat.TurnSeparator;
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
