using System.CommandLine;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;
using Rwkv7.Gen.Chat;
using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Sessions;
using Rwkv7.Gen.Text;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 chat</c>: a conversation in the G1 chat template, one user message per input line. The model's state
/// carries the whole conversation, so each turn feeds only the new message. Lines starting with <c>/</c> are
/// commands (<see cref="HelpText"/>). Ctrl-C stops the answer being written, not the program.
/// </summary>
/// <remarks>
/// Standard output holds only the replies (one per turn, each followed by a newline; on a terminal also the
/// <c>User:</c>/<c>Assistant:</c> prompts), and messages about commands go to standard error, so a piped
/// conversation can be checked by comparing outputs. With piped input, a failed command makes the exit code 1.
/// </remarks>
internal static class ChatCommand
{
    public const string Name = "chat";

    public const int DefaultMaxTokens = 1024;

    public const string HelpText =
        "/save FILE    save the conversation's state (resume it later with /load)\n" +
        "/load FILE    continue from a saved state\n" +
        "/reset        forget the conversation (the system prompt stays)\n" +
        "/think on|off let the model think before answering, or answer at once\n" +
        "/help         this list\n" +
        "/quit         leave (so do Ctrl-D and, at the prompt, Ctrl-C)\n" +
        "//text        send a message that starts with '/'";

    /// <summary>What <c>rwkv7 chat --help</c> says under the options.</summary>
    public static readonly string HelpNotes = "Inside the chat, lines starting with '/' are commands:\n  " + HelpText.Replace("\n", "\n  ", StringComparison.Ordinal) + "\n";

    public static Command Create(CliConsole console)
    {
        var model = new ModelOptions();
        Option<string?> system = CliOptions.Text("--system", "TEXT", "a system prompt the conversation starts with (it stays after /reset)");
        Option<OnOff?> think = CliOptions.OnOff("--think", "let the model think before answering (on) or answer at once (off, the default); /think changes it");
        Option<int> maxTokens = CliOptions.Int("--max-tokens", "N", "most tokens in one reply", DefaultMaxTokens, min: 1);
        var sampling = new SamplingArguments(RwkvChatClientOptions.DefaultSampling);

        var command = new Command(Name, "Chat in the G1 chat template: one user message per line of standard input.");
        model.AddTo(command, vocabulary: true);
        command.Options.Add(system);
        command.Options.Add(think);
        command.Options.Add(maxTokens);
        sampling.AddTo(command);
        command.SetAction((parse, _) => RunAsync(
            console, model.Read(parse, console), model.ReadVocabulary(parse, console),
            parse.GetValue(system), parse.GetValue(think) == OnOff.On, parse.GetValue(maxTokens), sampling.Read(parse)));
        return command;
    }

    private static async Task<int> RunAsync(
        CliConsole console, ModelRequest request, string? vocabulary, string? system, bool think, int maxTokens, SamplingOptions sampling)
    {
        using RwkvModel model = ModelOptions.Load(request, console);
        SamplingArguments.CheckBans(sampling, model.Shape.Vocab);
        RwkvTokenizer tokenizer = ModelOptions.LoadTokenizer(model, request, vocabulary);
        if (tokenizer.EndOfTextId is int endOfText)
        {
            sampling = sampling with { BannedTokens = [.. sampling.BannedTokens, endOfText] }; // a reply ends at a blank line, never at end of text
        }

        var chat = new Conversation(new RwkvSession(model, tokenizer), console, system, think)
        {
            Generation = new GenerationOptions { MaxTokens = maxTokens, StopSequences = [G1ChatFormat.TurnSeparator], Sampling = sampling },
        };
        return await chat.RunAsync().ConfigureAwait(false);
    }

    private static bool? ParseThink(string text) => text switch
    {
        "on" => true,
        "off" => false,
        _ => null,
    };

    /// <summary>The read-reply loop over one session.</summary>
    private sealed class Conversation(RwkvSession session, CliConsole console, string? system, bool think)
    {
        private readonly bool _interactive = !console.IsInputRedirected;
        private bool _think = think;
        private bool _atTurnBoundary = true; // the state ends with a finished turn (or holds nothing)
        private bool _failed;

        public required GenerationOptions Generation { get; init; }

        public async Task<int> RunAsync()
        {
            StartConversation();
            if (_interactive)
            {
                console.Error.WriteLine($"Chatting with {session.Model.Weights.Source} ({session.Model.EngineName}). /help lists commands; Ctrl-C stops an answer.");
            }

            using TextReader input = console.ReadLines();
            while (true)
            {
                if (_interactive)
                {
                    console.Out.Write($"{G1ChatFormat.UserRole}: ");
                }

                string? line = input.ReadLine();
                if (line is null)
                {
                    break;
                }

                if (line.StartsWith('/') && !line.StartsWith("//", StringComparison.Ordinal))
                {
                    if (!RunCommand(line))
                    {
                        break;
                    }

                    continue;
                }

                string message = line.StartsWith("//", StringComparison.Ordinal) ? line[1..] : line;
                if (!string.IsNullOrWhiteSpace(message))
                {
                    await ReplyAsync(message).ConfigureAwait(false);
                }
            }

            if (_interactive)
            {
                console.Out.WriteLine();
            }

            return _failed && !_interactive ? Program.ExitFailure : 0;
        }

        /// <summary>Feeds the message and streams the reply; Ctrl-C stops the reply and keeps the program.</summary>
        private async Task ReplyAsync(string message)
        {
            string prompt = (_atTurnBoundary ? "" : G1ChatFormat.TurnSeparator)
                + G1ChatFormat.Turn(G1ChatFormat.UserRole, message)
                + G1ChatFormat.AssistantPrompt(_think ? ChatThinking.On : ChatThinking.Off);
            using var cancel = new CancellationTokenSource();
            using IDisposable interrupt = console.Interrupts.Register(() =>
            {
                cancel.Cancel();
                return true;
            });

            _atTurnBoundary = false; // until the reply ends with the turn separator
            if (_interactive)
            {
                console.Out.Write($"{G1ChatFormat.AssistantRole}: ");
            }

            var shaper = new ReplyStart(_think);
            try
            {
                session.Append(prompt, cancellationToken: cancel.Token);
                await foreach (string piece in session.GenerateStreamingAsync(Generation, cancel.Token).ConfigureAwait(false))
                {
                    console.Out.Write(shaper.Shape(piece));
                }

                GenerationResult result = session.LastGeneration!;
                _atTurnBoundary = result.StopReason == GenerationStopReason.StopSequence;
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                console.Error.Write(" [stopped]");
            }

            console.Out.WriteLine();
            if (_interactive)
            {
                console.Out.WriteLine();
            }
        }

        /// <summary>Runs a /command; false when the conversation should end.</summary>
        private bool RunCommand(string line)
        {
            string[] parts = line.Split(' ', 2, StringSplitOptions.TrimEntries);
            string argument = parts.Length > 1 ? parts[1] : "";
            try
            {
                switch (parts[0])
                {
                    case "/quit" or "/exit":
                        return false;
                    case "/help":
                        console.Error.WriteLine(HelpText);
                        break;
                    case "/reset":
                        session.Reset();
                        StartConversation();
                        console.Error.WriteLine("rwkv7: the conversation starts again");
                        break;
                    case "/think":
                        _think = ParseThink(argument) ?? throw new UsageException("/think needs on or off");
                        console.Error.WriteLine($"rwkv7: thinking {(_think ? "on" : "off")}");
                        break;
                    case "/save":
                        Save(RequirePath(argument, "/save"));
                        break;
                    case "/load":
                        string path = RequirePath(argument, "/load");
                        session.LoadState(path);
                        _atTurnBoundary = true; // saves are always made at the end of a turn
                        console.Error.WriteLine($"rwkv7: continuing from {path}");
                        break;
                    default:
                        throw new UsageException($"unknown command {parts[0]} (/help lists them)");
                }
            }
            catch (Exception e) when (e is UsageException || ErrorText.IsExpected(e))
            {
                console.Error.WriteLine($"rwkv7: {ErrorText.OneLine(e)}");
                _failed = true;
            }

            return true;
        }

        private void Save(string path)
        {
            if (!_atTurnBoundary && session.HasLogits)
            {
                session.Append(G1ChatFormat.TurnSeparator); // close a reply that was cut short, so the file ends a turn
                _atTurnBoundary = true;
            }

            session.SaveState(path);
            console.Error.WriteLine($"rwkv7: saved the conversation to {path}");
        }

        private void StartConversation()
        {
            if (!string.IsNullOrWhiteSpace(system))
            {
                session.Append(G1ChatFormat.Turn(G1ChatFormat.SystemRole, system));
            }

            _atTurnBoundary = true;
        }

        private static string RequirePath(string argument, string command) =>
            argument.Length > 0 ? argument : throw new UsageException($"{command} needs a file name");
    }

    /// <summary>
    /// Shapes the start of a streamed reply: the white space the model writes after <c>Assistant:</c> is not shown,
    /// and in thinking mode the <c>&lt;think</c> the prompt opened is shown first.
    /// </summary>
    private sealed class ReplyStart(bool think)
    {
        private bool _started;

        public string Shape(string piece)
        {
            if (_started)
            {
                return piece;
            }

            if (think)
            {
                _started = true;
                return "<think" + piece;
            }

            string trimmed = piece.TrimStart();
            _started = trimmed.Length > 0;
            return trimmed;
        }
    }
}
