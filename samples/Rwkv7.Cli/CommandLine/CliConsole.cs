using System.Text;

namespace Rwkv7.Cli.CommandLine;

/// <summary>
/// Everything a command touches outside its arguments: standard streams, whether they are terminals, environment
/// variables and Ctrl-C. The program passes the real console; tests pass buffers.
/// </summary>
internal sealed class CliConsole
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    public required TextWriter Out { get; init; }

    public required TextWriter Error { get; init; }

    /// <summary>Opens standard input as bytes (read exactly, nothing added or removed).</summary>
    public required Func<Stream> OpenInput { get; init; }

    /// <summary>Opens standard input as lines of text (for chat); by default UTF-8 over <see cref="OpenInput"/>.</summary>
    public Func<TextReader>? OpenLines { get; init; }

    /// <summary>Whether standard input is a pipe or file rather than a terminal.</summary>
    public bool IsInputRedirected { get; init; } = true;

    /// <summary>Whether standard output is a terminal.</summary>
    public bool IsOutputTerminal { get; init; }

    /// <summary>Whether standard error is a terminal (progress bars are drawn only then).</summary>
    public bool IsErrorTerminal { get; init; }

    /// <summary>Columns the help is wrapped to: the terminal's width when standard output is one, else no limit.</summary>
    public int OutputWidth { get; init; } = int.MaxValue;

    /// <summary>Looks up an environment variable.</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = _ => null;

    /// <summary>Ctrl-C, routed to whichever command wants it.</summary>
    public InterruptRelay Interrupts { get; } = new();

    /// <summary>The process's console. Ctrl-C goes to <see cref="Interrupts"/>; unhandled, it ends the process as usual.</summary>
    public static CliConsole FromSystemConsole()
    {
        bool inputRedirected = Console.IsInputRedirected;
        var console = new CliConsole
        {
            Out = Console.Out,
            Error = Console.Error,
            OpenInput = Console.OpenStandardInput,
            OpenLines = inputRedirected ? null : () => Console.In,
            IsInputRedirected = inputRedirected,
            IsOutputTerminal = !Console.IsOutputRedirected,
            IsErrorTerminal = !Console.IsErrorRedirected,
            OutputWidth = Console.IsOutputRedirected ? int.MaxValue : TerminalWidth(),
            GetEnvironmentVariable = Environment.GetEnvironmentVariable,
        };
        Console.CancelKeyPress += (_, e) => e.Cancel = console.Interrupts.Raise();
        return console;
    }

    private static int TerminalWidth()
    {
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : int.MaxValue;
        }
        catch (IOException)
        {
            return int.MaxValue;
        }
    }

    /// <summary>Standard input as lines.</summary>
    public TextReader ReadLines() => OpenLines?.Invoke() ?? new StreamReader(OpenInput(), Utf8, detectEncodingFromByteOrderMarks: false);

    /// <summary>All of standard input, byte for byte.</summary>
    public byte[] ReadAllInput()
    {
        using Stream input = OpenInput();
        using var buffer = new MemoryStream();
        input.CopyTo(buffer);
        return buffer.ToArray();
    }
}

/// <summary>
/// Passes Ctrl-C to the handler registered last. A handler returns true when it dealt with the interrupt (the
/// program goes on); with no handler, or one returning false, the interrupt ends the program.
/// </summary>
internal sealed class InterruptRelay
{
    private readonly Lock _gate = new();
    private Func<bool>? _handler;

    /// <summary>Makes <paramref name="handler"/> receive interrupts until the result is disposed.</summary>
    public IDisposable Register(Func<bool> handler)
    {
        lock (_gate)
        {
            var registration = new Registration(this, _handler);
            _handler = handler;
            return registration;
        }
    }

    /// <summary>Delivers an interrupt; true when a handler dealt with it.</summary>
    public bool Raise()
    {
        Func<bool>? handler;
        lock (_gate)
        {
            handler = _handler;
        }

        return handler?.Invoke() ?? false;
    }

    private sealed class Registration(InterruptRelay relay, Func<bool>? previous) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            lock (relay._gate)
            {
                if (!_disposed)
                {
                    relay._handler = previous;
                    _disposed = true;
                }
            }
        }
    }
}
