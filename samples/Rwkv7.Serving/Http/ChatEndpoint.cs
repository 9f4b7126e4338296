using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Rwkv7.Serving.Engine;
using Rwkv7.Gen.Chat;
using Rwkv7.Gen.Sampling;

namespace Rwkv7.Serving.Http;

/// <summary>
/// <c>POST /v1/chat/completions</c>: the messages in the G1 template, a reply that ends at the blank line closing the
/// assistant's turn, the think block returned as <c>reasoning_content</c> apart from <c>content</c>.
/// </summary>
/// <remarks>
/// Sampling defaults are those of BlinkDL's chat demo (<see cref="RwkvChatClientOptions.DefaultSampling"/>); end of
/// text is banned, as in every RWKV chat. <c>reasoning_effort</c> picks the thinking mode: <c>none</c> plain chat,
/// <c>minimal</c> an empty think block, <c>low</c>/<c>medium</c>/<c>high</c> thinking; absent, the server's
/// <c>--think</c>.
/// </remarks>
internal static class ChatEndpoint
{
    private const string ChunkObject = "chat.completion.chunk";

    public static async Task HandleAsync(HttpContext http, ServeContext server)
    {
        using JsonDocument document = await RequestBody.ReadJsonAsync(http, server.Options.MaxRequestBytes).ConfigureAwait(false);
        JsonElement body = document.RootElement;
        server.CheckModel(body);
        ChatThinking thinking = JsonFields.Choice(body, "reasoning_effort", "none", "minimal", "low", "medium", "high") switch
        {
            null => server.Options.Thinking,
            "none" => ChatThinking.Off,
            "minimal" => ChatThinking.Skip,
            _ => ChatThinking.On,
        };
        SamplingOptions defaults = RwkvChatClientOptions.DefaultSampling;
        if (server.Tokenizer.EndOfTextId is int endOfText)
        {
            defaults = defaults with { BannedTokens = [endOfText] };
        }

        GenerationFields fields = GenerationFields.Read(body, defaults, server.Options.MaxCompletionTokens, server.Options.MaxCompletionTokens, server.Vocab);
        ChatPrompt prompt = ChatPrompt.Read(body, server.Tokenizer, thinking);
        server.CheckPromptLength(prompt.Prompt.Length);

        var request = new GenerationRequest
        {
            Prompt = prompt.Prompt,
            Sampling = fields.Sampling,
            MaxTokens = fields.MaxTokens,
            StopSequences = [G1ChatFormat.TurnSeparator, .. fields.Stop],
            StopAtEndOfText = false,
            ReplyCacheKey = outcome => ReplyKey(server, prompt, outcome),
        };
        IReplyWriter writer = fields.Stream
            ? new StreamWriter(http, server.Options.ModelId, thinking, fields.IncludeUsage)
            : new WholeWriter(http, server.Options.ModelId, thinking);
        await GenerationCall.RunAsync(http, server, request, writer).ConfigureAwait(false);
    }

    /// <summary>
    /// The state after a reply is the state the next request's prompt starts with: the turns so far, then the reply as
    /// the client will send it back (its answer; the reasoning the state read is not sent back). A reply cut short by
    /// the token limit gets the blank line that closes its turn fed first; one ended by a caller's stop sequence is not
    /// kept (the state read the stop text, which the reply sent back does not hold).
    /// </summary>
    private static ReplyCacheEntry? ReplyKey(ServeContext server, ChatPrompt prompt, GenerationOutcome outcome)
    {
        int[] closing;
        if (outcome.StopSequence == G1ChatFormat.TurnSeparator)
        {
            closing = [];
        }
        else if (outcome.StopSequence is null)
        {
            closing = server.Tokenizer.EncodeToIdArray(G1ChatFormat.TurnSeparator);
        }
        else
        {
            return null;
        }

        string answer = ReplySplitter.Split(prompt.Thinking, outcome.Text).Answer;
        return new ReplyCacheEntry([.. prompt.Turns, .. ChatPrompt.AssistantTurn(server.Tokenizer, answer)], closing);
    }

    /// <summary>Collects the reply and answers with one <c>chat.completion</c>.</summary>
    private sealed class WholeWriter(HttpContext http, string model, ChatThinking thinking) : IReplyWriter
    {
        public bool Started => false;

        /// <summary>Nothing to do: the outcome carries the whole text.</summary>
        public Task TextAsync(string piece) => Task.CompletedTask;

        public Task CompletedAsync(GenerationOutcome outcome)
        {
            (string reasoning, string answer) = ReplySplitter.Split(thinking, outcome.Text);
            var message = new ChatMessageBody("assistant", answer, thinking == ChatThinking.On ? reasoning : null);
            var completion = new ChatCompletion(
                GenerationCall.NewId("chatcmpl-"), "chat.completion", GenerationCall.Now(), model,
                [new ChatChoice(0, message, GenerationCall.FinishReasonText(outcome.Reason), null)], GenerationCall.Usage(outcome));
            return http.Response.WriteAsJsonAsync(completion, ApiJsonContext.Default.ChatCompletion);
        }

        public Task FailedAsync(ApiException error) => throw error;
    }

    /// <summary>Streams <c>chat.completion.chunk</c> events: the role, reasoning and answer pieces, the finish, the usage.</summary>
    private sealed class StreamWriter(HttpContext http, string model, ChatThinking thinking, bool includeUsage) : IReplyWriter
    {
        private readonly EventStream _events = new(http.Response);
        private readonly ReplySplitter _splitter = new(thinking);
        private readonly List<ReplyPart> _parts = [];
        private readonly string _id = GenerationCall.NewId("chatcmpl-");
        private readonly long _created = GenerationCall.Now();

        public bool Started => _events.Started;

        public async Task TextAsync(string piece)
        {
            await EnsureStartedAsync().ConfigureAwait(false);
            _parts.Clear();
            _splitter.Push(piece, _parts);
            await WritePartsAsync().ConfigureAwait(false);
        }

        public async Task CompletedAsync(GenerationOutcome outcome)
        {
            await EnsureStartedAsync().ConfigureAwait(false);
            _parts.Clear();
            _splitter.Finish(_parts);
            await WritePartsAsync().ConfigureAwait(false);
            await _events.WriteAsync(
                Chunk(new ChunkDelta(null, null, null), GenerationCall.FinishReasonText(outcome.Reason)), ApiJsonContext.Default.ChatChunk).ConfigureAwait(false);
            if (includeUsage)
            {
                await _events.WriteAsync(
                    new ChatChunk(_id, ChunkObject, _created, model, [], GenerationCall.Usage(outcome)), ApiJsonContext.Default.ChatChunk).ConfigureAwait(false);
            }

            await _events.DoneAsync().ConfigureAwait(false);
        }

        public Task FailedAsync(ApiException error) => _events.ErrorAsync(error);

        private async Task EnsureStartedAsync()
        {
            if (!_events.Started)
            {
                await _events.StartAsync().ConfigureAwait(false);
                await _events.WriteAsync(Chunk(new ChunkDelta("assistant", "", null), null), ApiJsonContext.Default.ChatChunk).ConfigureAwait(false);
            }
        }

        private async Task WritePartsAsync()
        {
            foreach (ReplyPart part in _parts)
            {
                ChunkDelta delta = part.IsReasoning ? new ChunkDelta(null, null, part.Text) : new ChunkDelta(null, part.Text, null);
                await _events.WriteAsync(Chunk(delta, null), ApiJsonContext.Default.ChatChunk).ConfigureAwait(false);
            }
        }

        private ChatChunk Chunk(ChunkDelta delta, string? finishReason) =>
            new(_id, ChunkObject, _created, model, [new ChatChunkChoice(0, delta, finishReason, null)], null);
    }
}
