using Microsoft.AspNetCore.Http;

namespace Rwkv7.Serving.Http;

/// <summary>Writes an <see cref="ApiException"/> as OpenAI's error JSON, or drops the connection when the response has already begun.</summary>
internal static class ErrorResponse
{
    public static async Task WriteAsync(HttpContext http, ApiException error)
    {
        if (http.Response.HasStarted)
        {
            http.Abort(); // half a response cannot be taken back: the client sees the connection end, not a wrong body
            return;
        }

        http.Response.Clear();
        http.Response.StatusCode = error.Status;
        if (error.RetryAfterSeconds is int seconds)
        {
            http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        await http.Response.WriteAsJsonAsync(
            new ErrorBody(new ErrorDetail(error.Message, error.Type, error.Param, error.Code)), ApiJsonContext.Default.ErrorBody).ConfigureAwait(false);
    }
}
