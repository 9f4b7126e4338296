using Rwkv7.Gen.Chat;

namespace Rwkv7.Serving;

/// <summary>How <c>rwkv7 serve</c> runs: where it listens, who may call it, and the limits that keep one model serving many users.</summary>
public sealed record ServeOptions
{
    public const string DefaultHost = "127.0.0.1";
    public const int DefaultPort = 8080;
    public const int DefaultMaxBatch = 32;
    public const int DefaultMaxQueue = 64;
    public const int DefaultMaxPromptTokens = 16_384;
    public const int DefaultMaxCompletionTokens = 2048;
    public const int DefaultStateCacheMib = 256;
    public const long DefaultMaxRequestBytes = 1L << 20;

    /// <summary>Prompt tokens prefilled in one scheduler iteration, between two decode steps (and the size of a prompt's chunks).</summary>
    public const int DefaultPrefillChunkTokens = 256;

    /// <summary>IP address (or <c>localhost</c>) to bind.</summary>
    public string Host { get; init; } = DefaultHost;

    /// <summary>TCP port; 0 picks a free one (tests, <c>bench-serve</c>).</summary>
    public int Port { get; init; } = DefaultPort;

    /// <summary>When set, every <c>/v1</c> call and <c>/metrics</c> needs <c>Authorization: Bearer</c> this key.</summary>
    public string? ApiKey { get; init; }

    /// <summary>The model id that <c>/v1/models</c> lists and responses carry; requests naming another get 404.</summary>
    public string ModelId { get; init; } = "rwkv7";

    /// <summary>Most requests decoding together (one <c>ForwardBatch</c> row each); more wait in the queue.</summary>
    public int MaxBatch { get; init; } = DefaultMaxBatch;

    /// <summary>Most requests waiting for a batch slot; one more is refused with 429.</summary>
    public int MaxQueue { get; init; } = DefaultMaxQueue;

    /// <summary>Longest prompt accepted, in tokens (a longer one is a 400).</summary>
    public int MaxPromptTokens { get; init; } = DefaultMaxPromptTokens;

    /// <summary>Most tokens one request may generate; also the default for chat requests that set none.</summary>
    public int MaxCompletionTokens { get; init; } = DefaultMaxCompletionTokens;

    /// <summary>Largest request body, in bytes (a larger one is a 413).</summary>
    public long MaxRequestBytes { get; init; } = DefaultMaxRequestBytes;

    /// <summary>Memory budget of the state cache in bytes; 0 turns the cache off.</summary>
    public long StateCacheBytes { get; init; } = (long)DefaultStateCacheMib << 20;

    /// <summary>Folder the state cache is written to and read back from at start, or null to keep it in memory only.</summary>
    public string? StateDirectory { get; init; }

    /// <summary>How assistant turns open when a request does not say (<c>reasoning_effort</c>).</summary>
    public ChatThinking Thinking { get; init; } = ChatThinking.Off;

    /// <summary>
    /// Keeps a request's arithmetic independent of what else is in the batch: pads every decode step to whole
    /// multi-token tiles (see <see cref="Engine.BatchInvariance"/>), except on an engine whose batch rows already equal
    /// its one-token steps (<see cref="Gen.RwkvModel.BatchRowsMatchForward"/>, 4-bit weights), which needs no padding. On by
    /// default.
    /// </summary>
    public bool BatchInvariant { get; init; } = true;

    /// <summary>Prompt tokens prefilled per scheduler iteration.</summary>
    public int PrefillChunkTokens { get; init; } = DefaultPrefillChunkTokens;

    /// <summary>Writes one access-log line per request to standard error.</summary>
    public bool AccessLog { get; init; } = true;
}
