using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace Rwkv7.Serving.Http;

/// <summary>
/// A request the server refuses, answered with OpenAI's error JSON (<c>{"error": {"message", "type", "param", "code"}}</c>)
/// and <see cref="Status"/>. Thrown by request readers and handlers; the error middleware writes it.
/// </summary>
internal sealed class ApiException(int status, string message, string type, string? param = null, string? code = null) : Exception(message)
{
    /// <summary>OpenAI's error type for client mistakes.</summary>
    public const string InvalidRequest = "invalid_request_error";

    public int Status { get; } = status;

    public string Type { get; } = type;

    public string? Param { get; } = param;

    public string? Code { get; } = code;

    /// <summary>Seconds a client should wait before trying again (429 and 503), or null.</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiException BadRequest(string message, string? param = null, string? code = null) =>
        new(StatusCodes.Status400BadRequest, message, InvalidRequest, param, code);

    /// <summary>A field of the wrong JSON type.</summary>
    public static ApiException InvalidType(string param, string expected) =>
        BadRequest($"'{param}' must be {expected}.", param, "invalid_type");

    /// <summary>A field with a value out of its range or not one of the accepted ones.</summary>
    public static ApiException InvalidValue(string param, string message) => BadRequest(message, param, "invalid_value");

    /// <summary>A field this server cannot honour (it would change the answer, so it is not ignored).</summary>
    public static ApiException Unsupported(string param, string message) => BadRequest(message, param, "unsupported_parameter");

    public static ApiException Missing(string param) =>
        BadRequest($"Missing required parameter: '{param}'.", param, "missing_required_parameter");

    public static ApiException ModelNotFound(string requested, string served) =>
        new(StatusCodes.Status404NotFound, $"The model '{requested}' does not exist; this server serves '{served}'.", InvalidRequest, "model", "model_not_found");

    public static ApiException UnknownPath(string method, string path) =>
        new(StatusCodes.Status404NotFound, $"Invalid URL ({method} {path}).", InvalidRequest, code: "unknown_url");

    public static ApiException MethodNotAllowed(string method, string path) =>
        new(StatusCodes.Status405MethodNotAllowed, $"{method} is not allowed on {path}.", InvalidRequest, code: "method_not_allowed");

    public static ApiException MissingApiKey() =>
        new(StatusCodes.Status401Unauthorized, "No API key was given: send 'Authorization: Bearer KEY'.", InvalidRequest, code: "invalid_api_key");

    public static ApiException WrongApiKey() =>
        new(StatusCodes.Status401Unauthorized, "Incorrect API key provided.", InvalidRequest, code: "invalid_api_key");

    public static ApiException TooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, string.Create(CultureInfo.InvariantCulture, $"The request body is larger than this server's limit of {limit} bytes."), InvalidRequest, code: "request_too_large");

    public static ApiException QueueFull(int queue, int retryAfter) =>
        new(StatusCodes.Status429TooManyRequests, string.Create(CultureInfo.InvariantCulture, $"The server is busy: {queue} requests are already waiting. Try again shortly."), "rate_limit_error", code: "rate_limit_exceeded")
        {
            RetryAfterSeconds = retryAfter,
        };

    public static ApiException ShuttingDown() =>
        new(StatusCodes.Status503ServiceUnavailable, "The server is shutting down.", "server_error", code: "server_shutting_down") { RetryAfterSeconds = 1 };

    public static ApiException EngineFailure(string message) =>
        new(StatusCodes.Status500InternalServerError, $"The model failed on this request: {message}", "server_error", code: "engine_error");
}
