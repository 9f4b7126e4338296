using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Rwkv7.Gen.Benchmarks;

/// <summary>A summary column: megabytes (10^6 bytes) of input per second at the mean time.</summary>
internal sealed class ThroughputColumn(string header, Func<BenchmarkCase, long> bytesOf) : IColumn
{
    public string Id => nameof(ThroughputColumn) + header;

    public string ColumnName => header;

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Input megabytes (10^6 bytes) processed per second, from the mean time";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        long bytes = bytesOf(benchmarkCase);
        return meanNs is > 0 && bytes > 0 ? (bytes / (meanNs.Value * 1e-9) / 1e6).ToString("F1", System.Globalization.CultureInfo.InvariantCulture) : "-";
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}
