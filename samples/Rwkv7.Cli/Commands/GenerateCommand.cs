using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;
using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Sessions;
using Rwkv7.Gen.Text;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 generate</c>: continues a prompt, writing the text to standard output as it is produced. The prompt is
/// the argument, <c>--prompt</c>, or standard input read exactly (bytes, no newline added) when it is piped.
/// </summary>
/// <remarks>Ctrl-C stops the generation after the current token; the program then exits with 130.</remarks>
internal static class GenerateCommand
{
    public const int DefaultMaxTokens = 256;

    public static Command Create(CliConsole console)
    {
        var prompt = new Argument<string?>("prompt")
        {
            Description = "the text to continue; without it (or --prompt), standard input, read byte for byte",
            Arity = ArgumentArity.ZeroOrOne,
        };
        Option<string?> promptOption = CliOptions.Text("--prompt", "TEXT", "the text to continue, given as an option");
        var model = new ModelOptions();
        Option<int> maxTokens = CliOptions.Int("--max-tokens", "N", "most tokens to generate", DefaultMaxTokens, min: 0);
        Option<string[]> stops = CliOptions.Repeated(
            "--stop", "TEXT", @"end the text right before this text; may be repeated; understands \n \r \t \0 \\");
        var sampling = new SamplingArguments(SamplingOptions.Default);
        Option<bool> stats = CliOptions.Flag("--stats", "print the prompt's and the generation's speed on standard error");

        var command = new Command("generate", "Continue a prompt, writing the text to standard output as it is produced.") { prompt, promptOption };
        model.AddTo(command, vocabulary: true);
        command.Options.Add(maxTokens);
        command.Options.Add(stops);
        sampling.AddTo(command);
        command.Options.Add(stats);
        command.SetAction((parse, _) => RunAsync(
            console, ReadPrompt(parse.GetValue(prompt), parse.GetValue(promptOption), console), model.Read(parse, console), model.ReadVocabulary(parse, console),
            parse.GetValue(maxTokens), [.. parse.GetValue(stops)!.Select(ParseStop)], sampling.Read(parse), parse.GetValue(stats)));
        return command;
    }

    private static async Task<int> RunAsync(
        CliConsole console, string? prompt, ModelRequest request, string? vocabulary, int maxTokens, string[] stops, SamplingOptions sampling, bool stats)
    {
        byte[]? stdin = prompt is null ? console.ReadAllInput() : null;
        using RwkvModel model = ModelOptions.Load(request, console);
        SamplingArguments.CheckBans(sampling, model.Shape.Vocab);
        RwkvTokenizer tokenizer = ModelOptions.LoadTokenizer(model, request, vocabulary);
        int[] tokens = prompt is not null ? tokenizer.EncodeToIdArray(prompt) : Encode(tokenizer, stdin!);
        if (tokens.Length == 0)
        {
            throw new UsageException("the prompt is empty: there is nothing to continue");
        }

        var session = new RwkvSession(model, tokenizer);
        var options = new GenerationOptions { MaxTokens = maxTokens, StopSequences = stops, Sampling = sampling };
        using var cancel = new CancellationTokenSource();
        using IDisposable interrupt = console.Interrupts.Register(() =>
        {
            cancel.Cancel();
            return true;
        });

        long start = Stopwatch.GetTimestamp();
        TimeSpan prefill = TimeSpan.Zero;
        try
        {
            session.Append(tokens, cancellationToken: cancel.Token);
            prefill = Stopwatch.GetElapsedTime(start);
            await foreach (string piece in session.GenerateStreamingAsync(options, cancel.Token).ConfigureAwait(false))
            {
                console.Out.Write(piece);
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            console.Out.Flush();
            console.Error.WriteLine();
            console.Error.WriteLine("rwkv7: interrupted");
            return Program.ExitInterrupted;
        }

        if (console.IsOutputTerminal)
        {
            console.Out.WriteLine();
        }

        console.Out.Flush();
        if (stats)
        {
            WriteStats(console.Error, session.LastGeneration!, tokens.Length, prefill, Stopwatch.GetElapsedTime(start) - prefill, model.EngineName);
        }

        return 0;
    }

    /// <summary>The prompt from the argument or --prompt; null when it comes from standard input.</summary>
    private static string? ReadPrompt(string? positional, string? option, CliConsole console)
    {
        if (positional is not null && option is not null)
        {
            throw new UsageException("generate takes the prompt as an argument or with --prompt, not both");
        }

        string? prompt = positional ?? option;
        if (prompt is null && !console.IsInputRedirected)
        {
            throw new UsageException("generate needs a prompt: an argument, --prompt TEXT, or text piped to standard input");
        }

        return prompt;
    }

    private static string ParseStop(string text)
    {
        string stop;
        try
        {
            stop = EscapedText.Unescape(text);
        }
        catch (FormatException e)
        {
            throw new UsageException($"--stop {e.Message}");
        }

        return stop.Length > 0 ? stop : throw new UsageException("--stop needs a non-empty text");
    }

    /// <summary>Tokenizes the bytes as they are (no conversion to text and back, so nothing is normalized).</summary>
    private static int[] Encode(RwkvTokenizer tokenizer, byte[] utf8)
    {
        int[] ids = new int[utf8.Length];
        int count = tokenizer.EncodeUtf8(utf8, ids);
        return ids[..count];
    }

    private static void WriteStats(TextWriter o, GenerationResult result, int promptTokens, TimeSpan prefill, TimeSpan decode, string engine)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        string reason = result.StopReason switch
        {
            GenerationStopReason.MaxTokens => "at --max-tokens",
            GenerationStopReason.StopSequence => "at a --stop text",
            _ => "at end of text",
        };
        o.WriteLine(string.Format(
            c, "rwkv7: prompt {0} tokens in {1:0.000} s ({2:0.0} tokens/s); generated {3} tokens in {4:0.000} s ({5:0.0} tokens/s); stopped {6}; {7}",
            promptTokens, prefill.TotalSeconds, promptTokens / Math.Max(prefill.TotalSeconds, 1e-9),
            result.Tokens.Count, decode.TotalSeconds, result.Tokens.Count / Math.Max(decode.TotalSeconds, 1e-9), reason, engine));
    }
}
