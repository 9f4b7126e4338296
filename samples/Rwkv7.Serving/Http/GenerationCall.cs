using Microsoft.AspNetCore.Http;
using Rwkv7.Serving.Engine;

namespace Rwkv7.Serving.Http;

/// <summary>How an endpoint turns scheduler events into its response, streamed or whole.</summary>
internal interface IReplyWriter
{
    /// <summary>Whether anything was sent: failures after that are written into the response instead of as a status.</summary>
    bool Started { get; }

    Task TextAsync(string piece);

    Task CompletedAsync(GenerationOutcome outcome);

    /// <summary>A failure after <see cref="Started"/>.</summary>
    Task FailedAsync(ApiException error);
}

/// <summary>
/// Runs one generation for an HTTP request: queues it (429 with <c>Retry-After</c> when the queue is full), cancels it
/// when the client goes away, and passes its events to the endpoint's writer.
/// </summary>
internal static class GenerationCall
{
    /// <summary>Items key under which the outcome is left for the access log.</summary>
    public const string OutcomeItem = "rwkv7.outcome";

    public static async Task RunAsync(HttpContext http, ServeContext server, GenerationRequest request, IReplyWriter writer)
    {
        if (!server.Scheduler.TryEnqueue(request))
        {
            throw ApiException.QueueFull(server.Options.MaxQueue, ServeContext.RetryAfterSeconds);
        }

        server.Metrics.Accepted(request.Prompt.Length);
        using CancellationTokenRegistration registration = http.RequestAborted.Register(() =>
        {
            request.Cancel();
            server.Scheduler.Nudge();
        });
        try
        {
            await foreach (GenerationEvent e in request.Events.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                switch (e)
                {
                    case GenerationEvent.Text text:
                        await writer.TextAsync(text.Piece).ConfigureAwait(false);
                        break;
                    case GenerationEvent.Completed completed:
                        http.Items[OutcomeItem] = completed.Outcome;
                        server.Metrics.RestoredFromCache(completed.Outcome.CachedPromptTokens);
                        await writer.CompletedAsync(completed.Outcome).ConfigureAwait(false);
                        break;
                    case GenerationEvent.Failed failed:
                        ApiException error = failed.Kind == FailureKind.Shutdown ? ApiException.ShuttingDown() : ApiException.EngineFailure(failed.Message);
                        if (!writer.Started)
                        {
                            throw error;
                        }

                        await writer.FailedAsync(error).ConfigureAwait(false);
                        break;
                }
            }
        }
        catch (Exception e) when (http.RequestAborted.IsCancellationRequested && e is IOException or OperationCanceledException)
        {
            // The client left while we wrote: the scheduler frees its slot at the next step.
            request.Cancel();
            server.Scheduler.Nudge();
        }
    }

    /// <summary>Seconds since the Unix epoch, for <c>created</c>.</summary>
    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>A response id with OpenAI's prefixes (<c>chatcmpl-</c>, <c>cmpl-</c>).</summary>
    public static string NewId(string prefix) => prefix + Guid.NewGuid().ToString("N");

    public static string FinishReasonText(FinishReason reason) => reason == FinishReason.Length ? "length" : "stop";

    public static UsageBody Usage(GenerationOutcome o) =>
        new(o.PromptTokens, o.Tokens.Count, o.PromptTokens + o.Tokens.Count, new PromptTokensDetails(o.CachedPromptTokens));
}
