using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Reflection;
using Rwkv7.Cli.CommandLine;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// Every command of <c>rwkv7</c> and what the program adds around them: --help (and -h) on every command, --version,
/// --verbose, and notes under the help that options cannot carry. The help is generated from these definitions.
/// </summary>
internal static class CommandTree
{
    public const string ProgramName = "rwkv7";

    /// <summary>
    /// How command lines are read: no <c>@file</c> response files (a prompt may start with '@') and no bundling of
    /// one-letter switches (a prompt may start with '-').
    /// </summary>
    public static ParserConfiguration Parsing { get; } = new() { EnablePosixBundling = false, ResponseFileTokenReplacer = null };

    private const string RootNotes =
        $"""
        Environment:
          {ModelOptions.ModelVariable}     the checkpoint, where --model is not given
          {ModelOptions.VocabularyVariable}     the World vocabulary, where --vocab is not given
          {ServeArguments.ApiKeyVariable}   serve's API key, where --api-key is not given
          {TuningFiles.FileVariable}    the tuning file to use instead of this processor's saved one (rwkv7 tune --save)

        'rwkv7 COMMAND --help' (or -h) describes a command. A failure prints one line on standard error (--verbose adds
        the stack trace). Exit codes: 0 success, 1 failure, 2 a usage mistake, 130 interrupted by Ctrl-C.
        """;

    /// <summary>The command tree for one command line; the commands read and write through <paramref name="console"/>.</summary>
    public static Command Create(CliConsole console)
    {
        var root = new Command(ProgramName, "Run RWKV-7 language models (Rwkv7.Gen).")
        {
            new Option<bool>("--verbose") { Description = "on failure, print the stack trace too", Arity = ArgumentArity.Zero, Recursive = true },
            new HelpOption { Description = "show this help", Action = new HelpWithNotes(new HelpAction { MaxWidth = console.OutputWidth }) },
            new VersionOption { Description = "print the version and exit", Action = new PrintVersion() },
        };
        foreach (Command command in new[]
        {
            GenerateCommand.Create(console), ChatCommand.Create(console), PerplexityCommand.Create(console), TokenizeCommand.Create(console),
            InfoCommand.Create(console), LogitsCommand.Create(console), BenchCommand.Create(console), TuneCommand.Create(console),
            ConvertCommand.Create(console), ServeCommand.Create(console), BenchServeCommand.Create(console),
        })
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    /// <summary>How commands run: output to <paramref name="console"/>; exceptions and Ctrl-C are the program's to handle.</summary>
    public static InvocationConfiguration Invocation(CliConsole console) => new()
    {
        Output = console.Out,
        Error = console.Error,
        EnableDefaultExceptionHandler = false,
        ProcessTerminationTimeout = null,
    };

    /// <summary>The program's version: <c>rwkv7 0.1.0+commit</c>.</summary>
    public static string Version =>
        $"{ProgramName} {typeof(CommandTree).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown"}";

    /// <summary>The generated help, then the notes of the command it describes (the program's; chat's commands).</summary>
    private sealed class HelpWithNotes(HelpAction help) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            int exit = help.Invoke(parseResult);
            string? notes = parseResult.CommandResult.Command.Name switch
            {
                ProgramName => RootNotes,
                ChatCommand.Name => ChatCommand.HelpNotes,
                _ => null,
            };
            if (notes is not null)
            {
                parseResult.InvocationConfiguration.Output.WriteLine(notes);
            }

            return exit;
        }
    }

    /// <summary>
    /// --version: the version of this program (not of whichever assembly started the process). Unlike the parser's own,
    /// it leaves other mistakes on the line to be reported (<c>rwkv7 --version extra</c>).
    /// </summary>
    private sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(Version);
            return 0;
        }
    }
}
