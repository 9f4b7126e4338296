using System.Diagnostics;
using System.Globalization;

namespace Rwkv7.Cli.CommandLine;

/// <summary>
/// A one-line progress bar on standard error, redrawn at most ten times a second, drawn only when standard error
/// is a terminal (so logs and pipes stay clean).
/// </summary>
internal sealed class ProgressBar : IProgress<double>, IDisposable
{
    private const int Width = 30;
    private const int RedrawMilliseconds = 100;
    private readonly string _label;
    private readonly TextWriter _writer;
    private readonly bool _enabled;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDrawTicks = -1;
    private bool _drawn;

    /// <summary>A bar on <paramref name="writer"/>, drawn when <paramref name="enabled"/>.</summary>
    public ProgressBar(string label, TextWriter writer, bool enabled)
    {
        _label = label;
        _writer = writer;
        _enabled = enabled;
    }

    /// <summary>A bar drawn when the process's standard error is a terminal.</summary>
    public ProgressBar(string label, TextWriter writer)
        : this(label, writer, !Console.IsErrorRedirected)
    {
    }

    /// <summary>A bar on <paramref name="console"/>'s standard error.</summary>
    public ProgressBar(string label, CliConsole console)
        : this(label, console.Error, console.IsErrorTerminal)
    {
    }

    public void Report(double value)
    {
        if (!_enabled || (_lastDrawTicks >= 0 && _clock.ElapsedMilliseconds - _lastDrawTicks < RedrawMilliseconds && value < 1))
        {
            return;
        }

        _lastDrawTicks = _clock.ElapsedMilliseconds;
        int filled = (int)Math.Round(Math.Clamp(value, 0, 1) * Width);
        _writer.Write(string.Format(
            CultureInfo.InvariantCulture, "\r{0} [{1}{2}] {3,5:0.0}% {4:0.0}s", _label, new string('#', filled), new string('.', Width - filled), value * 100, _clock.Elapsed.TotalSeconds));
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
            _writer.WriteLine();
            _drawn = false;
        }
    }
}
