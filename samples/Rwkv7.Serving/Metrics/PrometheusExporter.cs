using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Rwkv7.Serving.Metrics;

/// <summary>
/// Listens to one <see cref="Meter"/> and renders what it measured in the Prometheus text format (version 0.0.4):
/// counters as sums per tag set, gauges as their value at the scrape, histograms as cumulative buckets with sum and count.
/// </summary>
internal sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly Lock _gate = new();
    private readonly MeterListener _listener = new();
    private readonly Dictionary<Instrument, Series> _series = [];

    public PrometheusExporter(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                lock (_gate)
                {
                    _series[instrument] = new Series(instrument, BucketsOf(instrument));
                }

                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Record(i, value, tags));
        _listener.SetMeasurementEventCallback<int>((i, value, tags, _) => Record(i, value, tags));
        _listener.SetMeasurementEventCallback<double>((i, value, tags, _) => Record(i, value, tags));
        _listener.Start();
    }

    /// <summary>Every series, gauges read now.</summary>
    public string Render()
    {
        _listener.RecordObservableInstruments();
        var text = new StringBuilder();
        lock (_gate)
        {
            foreach (Series s in _series.Values.OrderBy(s => s.Instrument.Name, StringComparer.Ordinal))
            {
                s.WriteTo(text);
            }
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string labels = Labels(tags);
        lock (_gate)
        {
            if (_series.TryGetValue(instrument, out Series? s))
            {
                s.Record(labels, value);
            }
        }
    }

    private static double[]? BucketsOf(Instrument instrument) => instrument switch
    {
        Histogram<double> h => h.Advice?.HistogramBucketBoundaries?.ToArray() ?? [],
        Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray() ?? [],
        _ => null,
    };

    /// <summary>Tags as a Prometheus label set, <c>{a="1",b="x"}</c>, sorted by name; empty without tags.</summary>
    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            return "";
        }

        var pairs = new List<KeyValuePair<string, object?>>(tags.ToArray());
        pairs.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return "{" + string.Join(",", pairs.Select(p => $"{p.Key}=\"{Escape(Convert.ToString(p.Value, CultureInfo.InvariantCulture) ?? "")}\"")) + "}";
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Number(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    /// <summary>One instrument's values per label set.</summary>
    private sealed class Series(Instrument instrument, double[]? buckets)
    {
        private readonly SortedDictionary<string, double> _values = new(StringComparer.Ordinal);
        private readonly SortedDictionary<string, Histogram> _histograms = new(StringComparer.Ordinal);

        public Instrument Instrument { get; } = instrument;

        private bool IsGauge => Instrument.GetType().Name.StartsWith("ObservableGauge", StringComparison.Ordinal);

        public void Record(string labels, double value)
        {
            if (buckets is not null)
            {
                if (!_histograms.TryGetValue(labels, out Histogram? h))
                {
                    _histograms[labels] = h = new Histogram(buckets.Length);
                }

                int bucket = Array.FindIndex(buckets, b => value <= b);
                h.Counts[bucket < 0 ? buckets.Length : bucket]++;
                h.Sum += value;
                h.Count++;
                return;
            }

            _values[labels] = IsGauge ? value : _values.GetValueOrDefault(labels) + value;
        }

        public void WriteTo(StringBuilder text)
        {
            string name = Instrument.Name;
            string type = buckets is not null ? "histogram" : IsGauge ? "gauge" : "counter";
            text.Append("# HELP ").Append(name).Append(' ').Append(Instrument.Description).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            if (buckets is null)
            {
                if (_values.Count == 0 && type == "counter")
                {
                    text.Append(name).Append(" 0\n");
                }

                foreach ((string labels, double value) in _values)
                {
                    text.Append(name).Append(labels).Append(' ').Append(Number(value)).Append('\n');
                }

                return;
            }

            foreach ((string labels, Histogram h) in _histograms)
            {
                string inner = labels.Length == 0 ? "" : labels[1..^1] + ",";
                long cumulative = 0;
                for (int i = 0; i <= buckets.Length; i++)
                {
                    cumulative += h.Counts[i];
                    string le = i < buckets.Length ? Number(buckets[i]) : "+Inf";
                    text.Append(name).Append("_bucket{").Append(inner).Append("le=\"").Append(le).Append("\"} ").Append(cumulative).Append('\n');
                }

                text.Append(name).Append("_sum").Append(labels).Append(' ').Append(Number(h.Sum)).Append('\n');
                text.Append(name).Append("_count").Append(labels).Append(' ').Append(h.Count).Append('\n');
            }
        }
    }

    private sealed class Histogram(int buckets)
    {
        public long[] Counts { get; } = new long[buckets + 1];

        public double Sum { get; set; }

        public long Count { get; set; }
    }
}
