using System.CommandLine;
using System.Globalization;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Cli.Evaluation;
using Rwkv7.Gen;
using Rwkv7.Gen.Text;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 perplexity FILE</c>: the model's perplexity over a text file, or, for a <c>.jsonl</c> file of
/// <c>{"text": ...}</c> lines, LAMBADA-style last-word accuracy and perplexity. Tokens are fed in chunks in
/// sequence mode; a progress bar runs on standard error when it is a terminal; a table of results goes to
/// standard output.
/// </summary>
internal static class PerplexityCommand
{
    /// <summary>Tokens per sequence-mode call (logits of every one are kept: chunk × vocabulary floats).</summary>
    public const int DefaultChunk = 128;

    public static Command Create(CliConsole console)
    {
        var file = new Argument<string?>("file")
        {
            Description = "a text file (perplexity of all of it), or a .jsonl file of {\"text\": ...} lines (LAMBADA: each passage's last word)",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var model = new ModelOptions();
        Option<int> chunk = CliOptions.Int("--chunk", "N", "tokens fed per call", DefaultChunk, 1, 65536);
        Option<int> limit = CliOptions.Int("--limit", "N", "score at most N tokens (or passages); 0 scores everything", 0, 0);

        var command = new Command("perplexity", "Score a text file by the model's perplexity, or a .jsonl file by LAMBADA-style last-word accuracy.") { file };
        model.AddTo(command, vocabulary: true);
        command.Options.Add(chunk);
        command.Options.Add(limit);
        command.SetAction(parse => Run(
            console, parse.GetValue(file) ?? throw new UsageException("perplexity needs a text or .jsonl file"),
            model.Read(parse, console), model.ReadVocabulary(parse, console), parse.GetValue(chunk), parse.GetValue(limit)));
        return command;
    }

    private static int Run(CliConsole console, string path, ModelRequest request, string? vocabulary, int chunk, int limit)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"no file at '{path}'");
        }

        using RwkvModel model = ModelOptions.Load(request, console);
        RwkvTokenizer tokenizer = ModelOptions.LoadTokenizer(model, request, vocabulary);
        var table = new Table(console.Out);
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            LambadaSet set = LambadaEvaluation.Read(path, tokenizer, limit);
            if (set.Examples.Count == 0)
            {
                throw new InvalidDataException($"{path} has no passage with a last word to predict");
            }

            WriteHeader(table, path, model);
            RunLambada(model, set, chunk, console, table);
        }
        else
        {
            byte[] text = File.ReadAllBytes(path);
            int[] tokens = new int[text.Length];
            tokens = tokens[..tokenizer.EncodeUtf8(text, tokens)];
            WriteHeader(table, path, model);
            RunText(model, tokenizer, tokens, chunk, limit, console, table);
        }

        return 0;
    }

    private static void WriteHeader(Table table, string path, RwkvModel model)
    {
        table.Row("file", path);
        table.Row("engine", $"{model.EngineName}, {model.Threads} thread(s)");
    }

    private static void RunText(RwkvModel model, RwkvTokenizer tokenizer, int[] tokens, int chunk, int limit, CliConsole console, Table table)
    {
        PerplexityResult r;
        using (var progress = new ProgressBar("scoring", console))
        {
            r = TextPerplexity.Evaluate(model, tokenizer, tokens, chunk, limit, progress);
            progress.Complete();
        }

        table.Row("tokens", F("{0:N0} scored of {1:N0} ({2:N0} bytes)", r.Tokens, tokens.Length, r.Bytes));
        table.Row("nll", F("{0:0.0000} nats per token", r.MeanNll));
        table.Row("perplexity", F("{0:0.###}", r.Perplexity));
        table.Row("bits/byte", F("{0:0.0000}", r.BitsPerByte));
        table.Row("top-1", F("{0:0.00}% of tokens are the greedy choice", 100 * r.GreedyAccuracy));
        table.Row("speed", F("{0:0.0} tokens/s ({1:0.00} s)", r.Tokens / r.Elapsed.TotalSeconds, r.Elapsed.TotalSeconds));
    }

    private static void RunLambada(RwkvModel model, LambadaSet set, int chunk, CliConsole console, Table table)
    {
        LambadaResult r;
        using (var progress = new ProgressBar("lambada", console))
        {
            r = LambadaEvaluation.Evaluate(model, set.Examples, chunk, progress);
            progress.Complete();
        }

        table.Row("passages", F("{0:N0} scored, {1:N0} skipped (no word after the last space)", r.Examples, set.Skipped));
        table.Row("accuracy", F("{0:0.00}% ({1:N0} last words reproduced by greedy decoding)", 100 * r.Accuracy, r.Correct));
        table.Row("perplexity", F("{0:0.###} (per last word: exp of its tokens' mean NLL; geometric mean over passages)", r.Perplexity));
        table.Row("word ppl", F("{0:0.###} (exp of the mean NLL of a whole last word, as lm-eval reports LAMBADA)", r.WordPerplexity));
        table.Row("speed", F("{0:0.0} passages/s ({1:0.00} s, {2:N0} target tokens)", r.Examples / r.Elapsed.TotalSeconds, r.Elapsed.TotalSeconds, r.TargetTokens));
    }

    private static string F(string format, params object[] values) => string.Format(CultureInfo.InvariantCulture, format, values);

    /// <summary>Two aligned columns.</summary>
    private sealed class Table(TextWriter output)
    {
        private const int LabelWidth = 12;

        public void Row(string label, string value) => output.WriteLine($"{label.PadRight(LabelWidth)} {value}");
    }
}
