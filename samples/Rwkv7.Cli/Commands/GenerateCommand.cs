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
    public const string Usage =
        "generate [PROMPT | --prompt TEXT | < FILE] " + ModelOptions.Usage + " " + ModelOptions.VocabularyUsage +
        " [--max-tokens N] [--stop TEXT]... " + SamplingArguments.Usage + " [--stats]";

    public const int DefaultMaxTokens = 256;

    public static async Task<int> RunAsync(CommandArguments args, CliConsole console)
    {
        string? prompt = ReadPromptArgument(args, console);
        int maxTokens = args.Int("max-tokens", DefaultMaxTokens, 0);
        string[] stops = [.. args.All("stop").Select(s => ParseStop(s))];
        SamplingOptions sampling = SamplingArguments.Parse(args, SamplingOptions.Default);
        bool stats = args.Flag("stats");
        ModelRequest request = ModelOptions.Parse(args);
        string? vocabulary = ModelOptions.ParseVocabulary(args);
        args.EnsureAllUsed();

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
    private static string? ReadPromptArgument(CommandArguments args, CliConsole console)
    {
        string? positional = args.SinglePositional("prompt");
        string? option = args.Option("prompt");
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
