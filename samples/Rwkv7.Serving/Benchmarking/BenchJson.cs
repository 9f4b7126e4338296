using System.Text.Json.Serialization;

namespace Rwkv7.Serving.Benchmarking;

// The request bodies bench-serve sends, serialized by source-generated code.

internal sealed record StreamOptions(bool IncludeUsage);

internal sealed record CompletionBodyJson(string Prompt, int MaxTokens, long Seed, float TopP, bool Stream, StreamOptions StreamOptions);

internal sealed record Message(string Role, string Content);

internal sealed record ChatTurnBody(IReadOnlyList<Message> Messages, int MaxTokens, long Seed, bool Stream, StreamOptions StreamOptions);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(CompletionBodyJson))]
[JsonSerializable(typeof(ChatTurnBody))]
internal sealed partial class BenchJsonContext : JsonSerializerContext;
