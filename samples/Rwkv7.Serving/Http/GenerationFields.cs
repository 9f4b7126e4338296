using System.Globalization;
using System.Text.Json;
using Rwkv7.Gen.Sampling;

namespace Rwkv7.Serving.Http;

/// <summary>
/// The fields chat and completion requests share: sampling, limits, stop sequences and streaming. Fields that would
/// change the answer in a way this server cannot honour (<c>n</c> other than 1, log-probabilities, logit bias, tools,
/// structured output) are refused with a 400 rather than ignored; fields that only describe the caller (<c>user</c>,
/// <c>metadata</c>, <c>store</c>) are ignored.
/// </summary>
/// <param name="Sampling">How tokens are drawn, over the endpoint's defaults.</param>
/// <param name="MaxTokens">Most tokens to generate.</param>
/// <param name="Stop">Stop sequences the request asked for.</param>
/// <param name="Stream">Answer with server-sent events.</param>
/// <param name="IncludeUsage">With <see cref="Stream"/>: end with a usage chunk (<c>stream_options.include_usage</c>).</param>
internal sealed record GenerationFields(SamplingOptions Sampling, int MaxTokens, IReadOnlyList<string> Stop, bool Stream, bool IncludeUsage)
{
    /// <summary>OpenAI's bound on temperature.</summary>
    public const double MaxTemperature = 2;

    /// <summary>OpenAI's bound on the presence and frequency penalties (either sign).</summary>
    public const double MaxPenalty = 2;

    /// <summary>Most stop sequences one request may give.</summary>
    public const int MaxStopSequences = 16;

    /// <summary>Reads the shared fields of <paramref name="body"/>.</summary>
    /// <param name="body">The request object.</param>
    /// <param name="defaults">The endpoint's sampling when a field is absent.</param>
    /// <param name="defaultMaxTokens">Tokens to generate when neither <c>max_tokens</c> nor <c>max_completion_tokens</c> is set.</param>
    /// <param name="maxTokensCap">The server's cap on both.</param>
    /// <param name="vocab">The model's vocabulary, for <c>top_k</c>.</param>
    public static GenerationFields Read(JsonElement body, SamplingOptions defaults, int defaultMaxTokens, int maxTokensCap, int vocab)
    {
        RefuseUnsupported(body);
        if (JsonFields.Integer(body, "n", long.MinValue, long.MaxValue) is long n && n != 1)
        {
            throw ApiException.InvalidValue("n", string.Create(CultureInfo.InvariantCulture, $"'n' must be 1 (one choice per request), not {n}."));
        }

        SamplingOptions sampling = defaults;
        if (JsonFields.Number(body, "temperature", 0, MaxTemperature) is double temperature)
        {
            sampling = sampling with { Temperature = (float)temperature };
        }

        if (JsonFields.Number(body, "top_p", 0, 1) is double topP)
        {
            // top_p 0 keeps only the most likely token: greedy.
            sampling = topP == 0 ? sampling with { Temperature = 0, TopP = 1 } : sampling with { TopP = (float)topP };
        }

        if (JsonFields.Integer(body, "top_k", 0, vocab) is long topK)
        {
            sampling = sampling with { TopK = (int)topK };
        }

        if (JsonFields.Number(body, "min_p", 0, 1) is double minP)
        {
            sampling = sampling with { MinP = (float)minP };
        }

        if (JsonFields.Number(body, "presence_penalty", -MaxPenalty, MaxPenalty) is double presence)
        {
            sampling = sampling with { PresencePenalty = (float)presence };
        }

        if (JsonFields.Number(body, "frequency_penalty", -MaxPenalty, MaxPenalty) is double frequency)
        {
            sampling = sampling with { FrequencyPenalty = (float)frequency };
        }

        if (JsonFields.Integer(body, "seed", long.MinValue, long.MaxValue) is long seed)
        {
            sampling = sampling with { Seed = seed };
        }

        long? maxTokens = JsonFields.Integer(body, "max_completion_tokens", 1, maxTokensCap)
            ?? JsonFields.Integer(body, "max_tokens", 1, maxTokensCap);
        bool stream = JsonFields.Boolean(body, "stream") ?? false;
        bool includeUsage = false;
        if (JsonFields.Object(body, "stream_options") is { } options)
        {
            if (!stream)
            {
                throw ApiException.InvalidValue("stream_options", "'stream_options' is only allowed when 'stream' is true.");
            }

            includeUsage = JsonFields.Boolean(options, "include_usage", "stream_options.include_usage") ?? false;
        }

        return new GenerationFields(sampling, (int)(maxTokens ?? Math.Min(defaultMaxTokens, maxTokensCap)), ReadStop(body), stream, includeUsage);
    }

    /// <summary><c>stop</c>: a string or an array of non-empty strings.</summary>
    private static IReadOnlyList<string> ReadStop(JsonElement body)
    {
        if (JsonFields.Optional(body, "stop") is not { } stop)
        {
            return [];
        }

        var stops = new List<string>();
        if (stop.ValueKind == JsonValueKind.String)
        {
            stops.Add(stop.GetString()!);
        }
        else if (stop.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement item in stop.EnumerateArray())
            {
                stops.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw ApiException.InvalidType("stop", "a string or an array of strings"));
            }
        }
        else
        {
            throw ApiException.InvalidType("stop", "a string or an array of strings");
        }

        if (stops.Count > MaxStopSequences)
        {
            throw ApiException.InvalidValue("stop", string.Create(CultureInfo.InvariantCulture, $"'stop' may hold at most {MaxStopSequences} sequences, not {stops.Count}."));
        }

        return stops.Any(string.IsNullOrEmpty) ? throw ApiException.InvalidValue("stop", "Stop sequences must not be empty.") : stops;
    }

    /// <summary>Refuses the fields that ask for something this server does not do.</summary>
    private static void RefuseUnsupported(JsonElement body)
    {
        if (JsonFields.Boolean(body, "logprobs") is true || (JsonFields.Optional(body, "logprobs") is { ValueKind: JsonValueKind.Number }))
        {
            throw ApiException.Unsupported("logprobs", "Log-probabilities are not supported by this server.");
        }

        if (JsonFields.Optional(body, "top_logprobs") is not null)
        {
            throw ApiException.Unsupported("top_logprobs", "Log-probabilities are not supported by this server.");
        }

        if (JsonFields.Object(body, "logit_bias") is { } bias && bias.EnumerateObject().Any())
        {
            throw ApiException.Unsupported("logit_bias", "'logit_bias' is not supported by this server.");
        }

        if (JsonFields.Array(body, "tools") is { } tools && tools.GetArrayLength() > 0)
        {
            throw ApiException.Unsupported("tools", "RWKV chat cannot call tools.");
        }

        if (JsonFields.Optional(body, "functions") is not null)
        {
            throw ApiException.Unsupported("functions", "RWKV chat cannot call functions.");
        }

        if (JsonFields.Optional(body, "tool_choice") is { } choice && !(choice.ValueKind == JsonValueKind.String && choice.GetString() is "none" or "auto"))
        {
            throw ApiException.Unsupported("tool_choice", "RWKV chat cannot call tools.");
        }

        if (JsonFields.Object(body, "response_format") is { } format && JsonFields.String(format, "type", "response_format.type") is { } type && type != "text")
        {
            throw ApiException.Unsupported("response_format", $"Only text responses are supported, not '{type}'.");
        }
    }
}
