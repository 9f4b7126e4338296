using System.Diagnostics.Metrics;

namespace Rwkv7.Serving.Metrics;

/// <summary>
/// The server's instruments (<see cref="System.Diagnostics.Metrics"/>), named as Prometheus shows them on
/// <c>/metrics</c>: requests by endpoint and status, tokens in and out, queue depth, active requests, batch sizes,
/// time to first token and time per decode step.
/// </summary>
internal sealed class ServeMetrics : IDisposable
{
    public const string MeterName = "Rwkv7.Serve";

    /// <summary>Seconds: from 5 ms to a minute, for first-token times.</summary>
    private static readonly double[] LatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    /// <summary>Seconds: from half a millisecond to 2.5 s, for one decode step (every request in it waits that long for its token).</summary>
    private static readonly double[] StepBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    /// <summary>Rows per decode step.</summary>
    private static readonly int[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128];

    private readonly Counter<long> _requests;
    private readonly Counter<long> _promptTokens;
    private readonly Counter<long> _cachedPromptTokens;
    private readonly Counter<long> _prefilledTokens;
    private readonly Counter<long> _completionTokens;
    private readonly Counter<long> _cancelled;
    private readonly Histogram<double> _firstToken;
    private readonly Histogram<double> _step;
    private readonly Histogram<int> _batch;
    private readonly Counter<long> _paddingRows;

    public ServeMetrics()
    {
        Meter = new Meter(MeterName);
        _requests = Meter.CreateCounter<long>("rwkv7_requests_total", description: "HTTP requests answered, by endpoint and status code.");
        _promptTokens = Meter.CreateCounter<long>("rwkv7_prompt_tokens_total", description: "Prompt tokens of accepted generation requests.");
        _cachedPromptTokens = Meter.CreateCounter<long>("rwkv7_prompt_tokens_cached_total", description: "Prompt tokens restored from the state cache instead of prefilled.");
        _prefilledTokens = Meter.CreateCounter<long>("rwkv7_prefill_tokens_total", description: "Prompt tokens run through the model.");
        _completionTokens = Meter.CreateCounter<long>("rwkv7_completion_tokens_total", description: "Tokens generated.");
        _cancelled = Meter.CreateCounter<long>("rwkv7_cancelled_requests_total", description: "Requests whose client left before they finished.");
        _paddingRows = Meter.CreateCounter<long>("rwkv7_padding_rows_total", description: "Rows added to decode steps for batch invariance.");
        _firstToken = Meter.CreateHistogram<double>("rwkv7_time_to_first_token_seconds", unit: "s",
            description: "From accepting a request to drawing its first token.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _step = Meter.CreateHistogram<double>("rwkv7_decode_step_seconds", unit: "s",
            description: "One batched decode step: the time per output token of every request in it.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = StepBuckets });
        _batch = Meter.CreateHistogram<int>("rwkv7_batch_size", description: "Requests in a decode step.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchBuckets });
    }

    public Meter Meter { get; }

    /// <summary>Publishes the gauges read at each scrape.</summary>
    public void Observe(Func<int> queueDepth, Func<int> activeRequests, Func<long> cacheBytes, Func<int> cacheEntries)
    {
        Meter.CreateObservableGauge("rwkv7_queue_depth", queueDepth, description: "Requests waiting for a batch slot.");
        Meter.CreateObservableGauge("rwkv7_active_requests", activeRequests, description: "Requests holding a batch slot.");
        Meter.CreateObservableGauge("rwkv7_state_cache_bytes", cacheBytes, unit: "By", description: "Memory held by the state cache.");
        Meter.CreateObservableGauge("rwkv7_state_cache_entries", cacheEntries, description: "States in the state cache.");
    }

    public void Request(string endpoint, int status) =>
        _requests.Add(1, new KeyValuePair<string, object?>("endpoint", endpoint), new KeyValuePair<string, object?>("status", status));

    public void Accepted(int promptTokens) => _promptTokens.Add(promptTokens);

    public void Prefilled(int tokens) => _prefilledTokens.Add(tokens);

    public void RestoredFromCache(int tokens) => _cachedPromptTokens.Add(tokens);

    public void Generated(int tokens) => _completionTokens.Add(tokens);

    public void Cancelled() => _cancelled.Add(1);

    public void FirstToken(TimeSpan elapsed) => _firstToken.Record(elapsed.TotalSeconds);

    public void DecodeStep(int requests, int rows, TimeSpan elapsed)
    {
        _step.Record(elapsed.TotalSeconds);
        _batch.Record(requests);
        if (rows > requests)
        {
            _paddingRows.Add(rows - requests);
        }
    }

    public void Dispose() => Meter.Dispose();
}
