using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Rwkv7.Serving.Engine;
using Rwkv7.Serving.Metrics;

namespace Rwkv7.Serving.Http;

/// <summary>
/// One line per request on standard error once it is answered (a stream, once it ended), and the request counter:
/// <c>rwkv7 serve: 127.0.0.1 "POST /v1/chat/completions" 200 812.4 ms prompt=21 cached=0 completion=17 finish=stop</c>.
/// </summary>
internal sealed class AccessLog(TextWriter log, ServeMetrics metrics, bool enabled)
{
    private static readonly string[] Endpoints = ["/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"];

    private readonly Lock _gate = new();

    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            await next(http).ConfigureAwait(false);
        }
        finally
        {
            int status = http.RequestAborted.IsCancellationRequested && !http.Response.HasStarted ? 499 : http.Response.StatusCode;
            metrics.Request(EndpointOf(http.Request.Path), status);
            if (enabled)
            {
                Write(http, status, Stopwatch.GetElapsedTime(start));
            }
        }
    }

    /// <summary>The endpoint label of a path: one of the served routes, or <c>other</c> (so unknown paths cannot grow the label set).</summary>
    private static string EndpointOf(PathString path)
    {
        foreach (string endpoint in Endpoints)
        {
            if (path.StartsWithSegments(endpoint, StringComparison.Ordinal))
            {
                return endpoint;
            }
        }

        return "other";
    }

    private void Write(HttpContext http, int status, TimeSpan elapsed)
    {
        string line = string.Create(CultureInfo.InvariantCulture,
            $"rwkv7 serve: {http.Connection.RemoteIpAddress} \"{http.Request.Method} {http.Request.Path}\" {status} {elapsed.TotalMilliseconds:0.0} ms");
        if (http.Items[GenerationCall.OutcomeItem] is GenerationOutcome o)
        {
            line += string.Create(CultureInfo.InvariantCulture,
                $" prompt={o.PromptTokens} cached={o.CachedPromptTokens} completion={o.Tokens.Count} finish={GenerationCall.FinishReasonText(o.Reason)}");
        }

        lock (_gate)
        {
            log.WriteLine(line);
        }
    }
}
