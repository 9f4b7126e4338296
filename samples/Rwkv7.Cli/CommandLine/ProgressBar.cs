using System.Diagnostics;
using System.Globalization;

namespace Rwkv7.Cli.CommandLine;

/// <summary>
/// A one-line progress bar on standard error, redrawn at most ten times a second, shown only when standard error
/// is a terminal (so logs and pipes stay clean).
/// </summary>
internal sealed class ProgressBar(string label, TextWriter writer) : IProgress<double>, IDisposable
{
    private const int Width = 30;
    private readonly bool _enabled = !Console.IsErrorRedirected;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDrawTicks = -1;
    private bool _drawn;

    public void Report(double value)
    {
        if (!_enabled || (_lastDrawTicks >= 0 && _clock.ElapsedMilliseconds - _lastDrawTicks < 100 && value < 1))
        {
            return;
        }

        _lastDrawTicks = _clock.ElapsedMilliseconds;
        int filled = (int)Math.Round(Math.Clamp(value, 0, 1) * Width);
        writer.Write(string.Format(
            CultureInfo.InvariantCulture, "\r{0} [{1}{2}] {3,5:0.0}% {4:0.0}s", label, new string('#', filled), new string('.', Width - filled), value * 100, _clock.Elapsed.TotalSeconds));
        _drawn = true;
    }

    public void Complete()
    {
        Report(1);
        Dispose();
    }

    public void Dispose()
    {
        if (_drawn)
        {
            writer.WriteLine();
            _drawn = false;
        }
    }
}
