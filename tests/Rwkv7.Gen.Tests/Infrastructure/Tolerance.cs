namespace Rwkv7.Gen.Tests.Infrastructure;

/// <summary>
/// The project's numeric tolerances (DESIGN.md): fp32 compute on bf16-exact weights must land within
/// 1e-4 × the row's standard deviation of the float64 goldens; states within 1e-4 × max |state|.
/// </summary>
public static class Tolerance
{
    public const double LogitsRelativeToRowStd = 1e-4;
    public const double StateRelativeToMaxAbs = 1e-4;

    /// <summary>Asserts every row of <paramref name="actual"/> is within tolerance of <paramref name="expected"/>.</summary>
    public static void AssertLogitRows(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, int vocab, string what, double relative = LogitsRelativeToRowStd)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int row = 0; row * vocab < expected.Length; row++)
        {
            ReadOnlySpan<float> e = expected.Slice(row * vocab, vocab);
            ReadOnlySpan<float> a = actual.Slice(row * vocab, vocab);
            double std = StdDev(e);
            double max = MaxAbsDiff(e, a, out int at);
            double limit = relative * std;
            Assert.True(
                max <= limit,
                $"{what}: row {row} max |Δlogit| = {max:E3} at token {at} (expected {e[at]}, got {a[at]}) exceeds {relative:E0} × row std {std:F4} = {limit:E3}");
        }
    }

    /// <summary>Asserts a state block is within 1e-4 × its max |value|.</summary>
    public static void AssertState(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, double relative = StateRelativeToMaxAbs)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = 0;
        foreach (float v in expected)
        {
            scale = Math.Max(scale, Math.Abs(v));
        }

        double max = MaxAbsDiff(expected, actual, out int at);
        Assert.True(
            max <= relative * scale,
            $"{what}: max |Δ| = {max:E3} at {at} (expected {expected[at]}, got {actual[at]}) exceeds {relative:E0} × max |state| {scale:E3}");
    }

    public static double StdDev(ReadOnlySpan<float> values)
    {
        double mean = 0;
        foreach (float v in values)
        {
            mean += v;
        }

        mean /= values.Length;
        double sum = 0;
        foreach (float v in values)
        {
            sum += (v - mean) * (v - mean);
        }

        return Math.Sqrt(sum / values.Length);
    }

    public static double MaxAbsDiff(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, out int index)
    {
        double max = -1;
        index = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)expected[i] - actual[i]);
            if (double.IsNaN(d))
            {
                index = i;
                return double.PositiveInfinity;
            }

            if (d > max)
            {
                max = d;
                index = i;
            }
        }

        return max;
    }
}
