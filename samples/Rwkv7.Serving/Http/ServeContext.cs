using Rwkv7.Serving.Engine;
using Rwkv7.Serving.Metrics;
using Rwkv7.Gen.Text;

namespace Rwkv7.Serving.Http;

/// <summary>What every handler needs: the settings, the tokenizer, the scheduler and the metrics.</summary>
internal sealed record ServeContext(ServeOptions Options, RwkvTokenizer Tokenizer, int Vocab, BatchScheduler Scheduler, ServeMetrics Metrics)
{
    /// <summary>Seconds a refused client is told to wait (<c>Retry-After</c>).</summary>
    public const int RetryAfterSeconds = 1;

    /// <summary>Checks the optional <c>model</c> field against the one model served.</summary>
    public void CheckModel(System.Text.Json.JsonElement body)
    {
        if (JsonFields.String(body, "model") is { } model && model != Options.ModelId)
        {
            throw ApiException.ModelNotFound(model, Options.ModelId);
        }
    }

    /// <summary>Refuses prompts over the cap.</summary>
    public void CheckPromptLength(int tokens)
    {
        if (tokens > Options.MaxPromptTokens)
        {
            throw ApiException.BadRequest(
                $"The prompt is {tokens} tokens long; this server accepts at most {Options.MaxPromptTokens}.", "messages", "context_length_exceeded");
        }
    }
}
