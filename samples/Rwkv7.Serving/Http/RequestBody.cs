using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Rwkv7.Serving.Http;

/// <summary>Reads a request body as one JSON object, within the size limit.</summary>
internal static class RequestBody
{
    private const int ReadBufferBytes = 16 << 10;

    /// <summary>
    /// Bytes past the limit that are still read (and dropped) before the 413 is sent, so that a client still sending its
    /// body reads the answer instead of a reset connection. Kestrel closes the connection on anything larger.
    /// </summary>
    public const long DrainBytes = 8L << 20;

    /// <summary>Most nesting a request may have (OpenAI's bodies need a handful of levels).</summary>
    private const int MaxDepth = 32;

    /// <exception cref="ApiException">413 over <paramref name="limit"/>; 400 when the body is not a JSON object.</exception>
    public static async Task<JsonDocument> ReadJsonAsync(HttpContext http, long limit)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[ReadBufferBytes];
        bool tooLarge = http.Request.ContentLength > limit;
        try
        {
            int read;
            while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted).ConfigureAwait(false)) > 0)
            {
                tooLarge |= buffer.Length + read > limit;
                if (!tooLarge)
                {
                    buffer.Write(chunk, 0, read);
                }
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            tooLarge = true; // past the drain allowance too: Kestrel closes the connection after the answer
        }

        if (tooLarge)
        {
            throw ApiException.TooLarge(limit);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), new JsonDocumentOptions { MaxDepth = MaxDepth });
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"The request body is not valid JSON: {e.Message}", code: "invalid_json");
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw ApiException.BadRequest("The request body must be a JSON object.", code: "invalid_json");
        }

        return document;
    }
}
