using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Rwkv7.Serving.Engine;
using Rwkv7.Gen.Sampling;

namespace Rwkv7.Serving.Http;

/// <summary>
/// <c>POST /v1/completions</c>: continues a raw prompt (a string, one string in an array, or token ids). Sampling
/// defaults are the <c>rwkv</c> pip package's (<see cref="SamplingOptions.Default"/>); as in OpenAI's API,
/// <c>max_tokens</c> defaults to 16. Drawing end of text ends the completion with <c>stop</c>.
/// </summary>
internal static class CompletionEndpoint
{
    /// <summary>OpenAI's default length of a completion.</summary>
    public const int DefaultMaxTokens = 16;

    private const string CompletionObject = "text_completion";

    public static async Task HandleAsync(HttpContext http, ServeContext server)
    {
        using JsonDocument document = await RequestBody.ReadJsonAsync(http, server.Options.MaxRequestBytes).ConfigureAwait(false);
        JsonElement body = document.RootElement;
        server.CheckModel(body);
        if (JsonFields.Optional(body, "suffix") is not null)
        {
            throw ApiException.Unsupported("suffix", "'suffix' (insertion) is not supported by this server.");
        }

        if (JsonFields.Boolean(body, "echo") is true)
        {
            throw ApiException.Unsupported("echo", "'echo' is not supported by this server.");
        }

        JsonFields.Integer(body, "best_of", 1, 1); // one choice per request: anything but 1 is refused

        GenerationFields fields = GenerationFields.Read(body, SamplingOptions.Default, DefaultMaxTokens, server.Options.MaxCompletionTokens, server.Vocab);
        int[] prompt = ReadPrompt(body, server);
        server.CheckPromptLength(prompt.Length);
        var request = new GenerationRequest
        {
            Prompt = prompt,
            Sampling = fields.Sampling,
            MaxTokens = fields.MaxTokens,
            StopSequences = fields.Stop,
            StopAtEndOfText = true,
            ReplyCacheKey = outcome => new ReplyCacheEntry([.. prompt, .. outcome.Tokens], []),
        };
        IReplyWriter writer = fields.Stream
            ? new StreamWriter(http, server.Options.ModelId, fields.IncludeUsage)
            : new WholeWriter(http, server.Options.ModelId);
        await GenerationCall.RunAsync(http, server, request, writer).ConfigureAwait(false);
    }

    /// <summary><c>prompt</c>: text, one text in an array, token ids, or one array of token ids.</summary>
    private static int[] ReadPrompt(JsonElement body, ServeContext server)
    {
        JsonElement prompt = JsonFields.Optional(body, "prompt") ?? throw ApiException.Missing("prompt");
        if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() == 1 && prompt[0].ValueKind is JsonValueKind.String or JsonValueKind.Array)
        {
            prompt = prompt[0];
        }
        else if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() > 1 && prompt[0].ValueKind is JsonValueKind.String or JsonValueKind.Array)
        {
            throw ApiException.InvalidValue("prompt", "One prompt per request: this server answers a single choice.");
        }

        int[] tokens;
        if (prompt.ValueKind == JsonValueKind.String)
        {
            tokens = server.Tokenizer.EncodeToIdArray(prompt.GetString()!);
        }
        else if (prompt.ValueKind == JsonValueKind.Array)
        {
            tokens = new int[prompt.GetArrayLength()];
            int i = 0;
            foreach (JsonElement id in prompt.EnumerateArray())
            {
                if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out int token))
                {
                    throw ApiException.InvalidType("prompt", "a string, or an array of token ids");
                }

                tokens[i++] = token >= 0 && token < server.Tokenizer.VocabularySize
                    ? token
                    : throw ApiException.InvalidValue("prompt", $"Token id {token} is outside the vocabulary [0, {server.Tokenizer.VocabularySize}).");
            }
        }
        else
        {
            throw ApiException.InvalidType("prompt", "a string, or an array of token ids");
        }

        return tokens.Length > 0 ? tokens : throw ApiException.InvalidValue("prompt", "The prompt is empty: there is nothing to continue.");
    }

    private sealed class WholeWriter(HttpContext http, string model) : IReplyWriter
    {
        public bool Started => false;

        /// <summary>Nothing to do: the outcome carries the whole text.</summary>
        public Task TextAsync(string piece) => Task.CompletedTask;

        public Task CompletedAsync(GenerationOutcome outcome)
        {
            var completion = new TextCompletion(
                GenerationCall.NewId("cmpl-"), CompletionObject, GenerationCall.Now(), model,
                [new TextChoice(outcome.Text, 0, GenerationCall.FinishReasonText(outcome.Reason), null)], GenerationCall.Usage(outcome));
            return http.Response.WriteAsJsonAsync(completion, ApiJsonContext.Default.TextCompletion);
        }

        public Task FailedAsync(ApiException error) => throw error;
    }

    private sealed class StreamWriter(HttpContext http, string model, bool includeUsage) : IReplyWriter
    {
        private readonly EventStream _events = new(http.Response);
        private readonly string _id = GenerationCall.NewId("cmpl-");
        private readonly long _created = GenerationCall.Now();

        public bool Started => _events.Started;

        public async Task TextAsync(string piece)
        {
            await EnsureStartedAsync().ConfigureAwait(false);
            await _events.WriteAsync(Chunk(piece, null, null), ApiJsonContext.Default.TextCompletion).ConfigureAwait(false);
        }

        public async Task CompletedAsync(GenerationOutcome outcome)
        {
            await EnsureStartedAsync().ConfigureAwait(false);
            await _events.WriteAsync(Chunk("", GenerationCall.FinishReasonText(outcome.Reason), null), ApiJsonContext.Default.TextCompletion).ConfigureAwait(false);
            if (includeUsage)
            {
                await _events.WriteAsync(
                    new TextCompletion(_id, CompletionObject, _created, model, [], GenerationCall.Usage(outcome)), ApiJsonContext.Default.TextCompletion).ConfigureAwait(false);
            }

            await _events.DoneAsync().ConfigureAwait(false);
        }

        public Task FailedAsync(ApiException error) => _events.ErrorAsync(error);

        private Task EnsureStartedAsync() => _events.Started ? Task.CompletedTask : _events.StartAsync();

        private TextCompletion Chunk(string text, string? finishReason, UsageBody? usage) =>
            new(_id, CompletionObject, _created, model, [new TextChoice(text, 0, finishReason, null)], usage);
    }
}
