using System.Text;
using Rwkv7.Cli.CommandLine;

namespace Rwkv7.Cli.Tests.Infrastructure;

/// <summary>What one run of the program left behind.</summary>
internal sealed record CliResult(int ExitCode, string Out, string Error)
{
    /// <summary>The standard error lines, without empty ones.</summary>
    public string[] ErrorLines => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Out}\n--- stderr ---\n{Error}";
}

/// <summary>Runs the <c>rwkv7</c> program in-process against buffers instead of the real console.</summary>
internal static class TestCli
{
    /// <summary>
    /// Runs <paramref name="args"/> with <paramref name="stdin"/> piped in (a terminal when null) and
    /// <paramref name="environment"/> as the environment; presses Ctrl-C once after
    /// <paramref name="interruptAfterWrites"/> non-empty writes to standard output, if given.
    /// </summary>
    public static CliResult Run(
        string[] args, byte[]? stdin = null, IReadOnlyDictionary<string, string>? environment = null, int? interruptAfterWrites = null)
    {
        var output = new InterruptingWriter();
        var error = new StringWriter();
        var console = new CliConsole
        {
            Out = output,
            Error = error,
            OpenInput = () => new MemoryStream(stdin ?? []),
            IsInputRedirected = stdin is not null,
            GetEnvironmentVariable = name => environment?.GetValueOrDefault(name),
        };
        if (interruptAfterWrites is int writes)
        {
            output.InterruptAfter(writes, () => console.Interrupts.Raise());
        }

        int exit = Program.RunAsync(args, console).GetAwaiter().GetResult();
        return new CliResult(exit, output.ToString(), error.ToString());
    }

    public static CliResult Run(string[] args, string stdin, IReadOnlyDictionary<string, string>? environment = null, int? interruptAfterWrites = null) =>
        Run(args, Encoding.UTF8.GetBytes(stdin), environment, interruptAfterWrites);

    /// <summary>A string writer that can press Ctrl-C after a number of writes.</summary>
    private sealed class InterruptingWriter : StringWriter
    {
        private int _remaining = -1;
        private Func<bool>? _interrupt;

        public bool Interrupted { get; private set; }

        public void InterruptAfter(int writes, Func<bool> interrupt)
        {
            _remaining = writes;
            _interrupt = interrupt;
        }

        public override void Write(string? value)
        {
            base.Write(value);
            if (!string.IsNullOrEmpty(value) && _remaining > 0 && --_remaining == 0)
            {
                Interrupted = _interrupt!();
            }
        }
    }
}
