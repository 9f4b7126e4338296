using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace Rwkv7.Serving.Http;

/// <summary>
/// Server-sent events as OpenAI streams them: <c>data: {json}</c> and a blank line per event, <c>data: [DONE]</c> at the
/// end. Each event is written whole and flushed.
/// </summary>
internal sealed class EventStream(HttpResponse response)
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    /// <summary>Whether the headers were sent (from then on the status is 200 and errors travel as events).</summary>
    public bool Started { get; private set; }

    public async Task StartAsync()
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.StartAsync().ConfigureAwait(false);
        Started = true;
    }

    public async Task WriteAsync<T>(T value, JsonTypeInfo<T> type)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(value, type);
        byte[] line = new byte[DataPrefix.Length + json.Length + EventEnd.Length];
        DataPrefix.CopyTo(line, 0);
        json.CopyTo(line, DataPrefix.Length);
        EventEnd.CopyTo(line, DataPrefix.Length + json.Length);
        await response.Body.WriteAsync(line).ConfigureAwait(false);
        await response.Body.FlushAsync().ConfigureAwait(false);
    }

    public async Task DoneAsync()
    {
        await response.Body.WriteAsync(Done).ConfigureAwait(false);
        await response.Body.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>An error after the stream started: OpenAI's error object as an event, then the end.</summary>
    public async Task ErrorAsync(ApiException error)
    {
        await WriteAsync(new ErrorBody(new ErrorDetail(error.Message, error.Type, error.Param, error.Code)), ApiJsonContext.Default.ErrorBody).ConfigureAwait(false);
        await DoneAsync().ConfigureAwait(false);
    }
}
