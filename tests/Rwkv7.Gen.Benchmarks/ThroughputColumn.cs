using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Rwkv7.Gen.Benchmarks;

/// <summary>
/// A summary column: units of work per second at the mean time, <paramref name="unitsOf"/> being what one operation
/// does in the column's unit (input megabytes for the tokenizer, 1 token for the forward benchmarks, whose operation
/// is one token); 0 shows "-".
/// </summary>
internal sealed class ThroughputColumn(string header, string legend, Func<BenchmarkCase, double> unitsOf) : IColumn
{
    /// <summary>Input megabytes (10^6 bytes) per second, for benchmarks that process <paramref name="bytesOf"/> bytes.</summary>
    public static ThroughputColumn MegabytesPerSecond(Func<BenchmarkCase, long> bytesOf) =>
        new("MB/s", "Input megabytes (10^6 bytes) processed per second, from the mean time", c => bytesOf(c) / 1e6);

    /// <summary>Tokens per second, for benchmarks whose operation is one token (<c>OperationsPerInvoke</c> set to the tokens of an invocation).</summary>
    public static ThroughputColumn TokensPerSecond() =>
        new("tokens/s", "Tokens per second (all sessions together for a batch), from the mean time per token", _ => 1);

    public string Id => nameof(ThroughputColumn) + header;

    public string ColumnName => header;

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => legend;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        double units = unitsOf(benchmarkCase);
        return meanNs is > 0 && units > 0 ? (units / (meanNs.Value * 1e-9)).ToString("F1", System.Globalization.CultureInfo.InvariantCulture) : "-";
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}
