using System.Diagnostics;
using System.Globalization;
using System.Text;
using Rwkv7.Gen;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 bench --context N</c>: decode speed and resident memory as the context grows to N tokens. RWKV-7 keeps a
/// fixed-size state, so both must stay flat; the measurements are printed and drawn as an SVG chart.
/// </summary>
internal static class ContextChart
{
    /// <summary>Decoded tokens timed at each checkpoint (median of three runs of this many).</summary>
    private const int TimedTokens = 16;

    public sealed record Point(long Context, double TokensPerSecond, long ResidentBytes);

    public static List<Point> Measure(RwkvModel model, long maxContext, TextWriter log)
    {
        var points = new List<Point>();
        RwkvState state = model.CreateState();
        float[] logits = new float[model.Shape.Vocab];
        int[] chunk = new int[512];
        var rng = new Random(99);
        long context = 0;
        foreach (long checkpoint in Checkpoints(maxContext))
        {
            // Grow the context by prefill up to the checkpoint.
            while (context < checkpoint)
            {
                int n = (int)Math.Min(chunk.Length, checkpoint - context);
                for (int i = 0; i < n; i++)
                {
                    chunk[i] = rng.Next(model.Shape.Vocab);
                }

                model.Forward(chunk.AsSpan(0, n), state, []);
                context += n;
            }

            var rates = new List<double>();
            for (int run = 0; run < 3; run++)
            {
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < TimedTokens; i++)
                {
                    model.Forward(rng.Next(model.Shape.Vocab), state, logits);
                }

                rates.Add(TimedTokens / Stopwatch.GetElapsedTime(start).TotalSeconds);
                context += TimedTokens;
            }

            rates.Sort();
            var point = new Point(context, rates[1], Process.GetCurrentProcess().WorkingSet64);
            points.Add(point);
            log.WriteLine(string.Format(
                CultureInfo.InvariantCulture, "context {0,9:N0}  decode {1,8:0.0} tokens/s  resident {2,7:0.0} MiB", point.Context, point.TokensPerSecond, point.ResidentBytes / 1048576.0));
        }

        return points;
    }

    /// <summary>1k, 2k, 5k, 10k, 20k, 50k, 100k, … up to <paramref name="max"/> (always included).</summary>
    private static IEnumerable<long> Checkpoints(long max)
    {
        long[] steps = [1, 2, 5];
        for (long scale = 1000; ; scale *= 10)
        {
            foreach (long s in steps)
            {
                long c = s * scale;
                if (c >= max)
                {
                    yield return max;
                    yield break;
                }

                yield return c;
            }
        }
    }

    /// <summary>A self-contained SVG line chart: decode tokens/s (left axis) and resident MiB (right axis) against context.</summary>
    public static string Svg(IReadOnlyList<Point> points, string title)
    {
        const int width = 720, height = 360, left = 70, right = 70, top = 40, bottom = 50;
        CultureInfo c = CultureInfo.InvariantCulture;
        double maxRate = Math.Max(1, points.Max(p => p.TokensPerSecond)) * 1.2;
        double maxMem = Math.Max(1, points.Max(p => p.ResidentBytes / 1048576.0)) * 1.2;
        double minLog = Math.Log10(points.Min(p => p.Context)), maxLog = Math.Log10(points.Max(p => p.Context));
        double spanLog = Math.Max(maxLog - minLog, 1e-9);
        double X(long context) => left + ((Math.Log10(context) - minLog) / spanLog * (width - left - right));
        double YRate(double r) => top + ((1 - (r / maxRate)) * (height - top - bottom));
        double YMem(double m) => top + ((1 - (m / maxMem)) * (height - top - bottom));

        var svg = new StringBuilder();
        svg.Append(c, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(c, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        svg.Append(c, $"<text x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{Escape(title)}</text>\n");
        svg.Append(c, $"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width - right}\" y2=\"{height - bottom}\" stroke=\"black\"/>\n");
        svg.Append(c, $"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{height - bottom}\" stroke=\"#1f77b4\"/>\n");
        svg.Append(c, $"<line x1=\"{width - right}\" y1=\"{top}\" x2=\"{width - right}\" y2=\"{height - bottom}\" stroke=\"#d62728\"/>\n");
        foreach (Point p in points)
        {
            double x = X(p.Context);
            svg.Append(c, $"<text x=\"{x:0.0}\" y=\"{height - bottom + 16}\" text-anchor=\"middle\">{FormatContext(p.Context)}</text>\n");
        }

        for (int i = 0; i <= 4; i++)
        {
            double r = maxRate * i / 4, m = maxMem * i / 4;
            svg.Append(c, $"<text x=\"{left - 6}\" y=\"{YRate(r) + 4:0.0}\" text-anchor=\"end\" fill=\"#1f77b4\">{r:0}</text>\n");
            svg.Append(c, $"<text x=\"{width - right + 6}\" y=\"{YMem(m) + 4:0.0}\" fill=\"#d62728\">{m:0}</text>\n");
        }

        svg.Append(c, $"<text x=\"{width / 2}\" y=\"{height - 12}\" text-anchor=\"middle\">context (tokens, log scale)</text>\n");
        svg.Append(c, $"<text x=\"16\" y=\"{height / 2}\" transform=\"rotate(-90 16 {height / 2})\" text-anchor=\"middle\" fill=\"#1f77b4\">decode tokens/s</text>\n");
        svg.Append(c, $"<text x=\"{width - 14}\" y=\"{height / 2}\" transform=\"rotate(90 {width - 14} {height / 2})\" text-anchor=\"middle\" fill=\"#d62728\">resident MiB</text>\n");
        svg.Append("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"")
           .AppendJoin(' ', points.Select(p => string.Format(c, "{0:0.0},{1:0.0}", X(p.Context), YRate(p.TokensPerSecond)))).Append("\"/>\n");
        svg.Append("<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"6 3\" points=\"")
           .AppendJoin(' ', points.Select(p => string.Format(c, "{0:0.0},{1:0.0}", X(p.Context), YMem(p.ResidentBytes / 1048576.0)))).Append("\"/>\n");
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string FormatContext(long context) =>
        context >= 1_000_000 ? string.Create(CultureInfo.InvariantCulture, $"{context / 1e6:0.#}M")
        : context >= 1000 ? string.Create(CultureInfo.InvariantCulture, $"{context / 1e3:0.#}k")
        : context.ToString(CultureInfo.InvariantCulture);

    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
