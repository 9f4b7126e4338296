using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Rwkv7.Gen;
using Rwkv7.Gen.Text;

namespace Rwkv7.Cli.Evaluation;

/// <summary>One passage: the tokens fed first, and the tokens of its last word, which the model must predict.</summary>
/// <param name="Line">Line number in the file (from 1).</param>
/// <param name="Context">The start token (if the vocabulary has one) and the text before the last space.</param>
/// <param name="Target">The last space and the word after it.</param>
internal sealed record LambadaExample(int Line, int[] Context, int[] Target);

/// <summary>Passages read from a <c>.jsonl</c> file, and how many had no last word to predict.</summary>
internal sealed record LambadaSet(IReadOnlyList<LambadaExample> Examples, int Skipped);

/// <summary>The outcome of a LAMBADA-style run.</summary>
/// <param name="Examples">Passages scored.</param>
/// <param name="Correct">Passages whose last word greedy decoding reproduces exactly.</param>
/// <param name="SumMeanTokenNll">Σ over passages of the mean NLL of the last word's tokens (nats).</param>
/// <param name="SumWordNll">Σ over passages of the total NLL of the last word's tokens (nats).</param>
/// <param name="TargetTokens">Tokens in all last words.</param>
/// <param name="Elapsed">Time spent in the model.</param>
internal sealed record LambadaResult(int Examples, int Correct, double SumMeanTokenNll, double SumWordNll, long TargetTokens, TimeSpan Elapsed)
{
    public double Accuracy => (double)Correct / Examples;

    /// <summary>Geometric mean over passages of each last word's perplexity, exp(mean NLL of its tokens).</summary>
    public double Perplexity => Math.Exp(SumMeanTokenNll / Examples);

    /// <summary>exp(mean total NLL per last word): the "perplexity" lm-eval and RWKV's scripts report for LAMBADA.</summary>
    public double WordPerplexity => Math.Exp(SumWordNll / Examples);
}

/// <summary>
/// LAMBADA-style last-word prediction over lines of <c>{"text": "..."}</c>. The last word is the text after the
/// last space; the context is the text before that space, and the target is the space and the word, each
/// tokenized on its own (as RWKV's LAMBADA script splits them). A word counts as correct when greedy decoding of as
/// many tokens as it has reproduces its tokens exactly — equivalently, when at every position of the word the
/// most likely token is the word's next token.
/// </summary>
internal static class LambadaEvaluation
{
    /// <summary>
    /// Reads and tokenizes the passages of a <c>.jsonl</c> file, stopping after <paramref name="limit"/> passages
    /// with a last word (0 for all).
    /// </summary>
    /// <exception cref="InvalidDataException">A line is not a JSON object with a string "text" (the message names the line).</exception>
    public static LambadaSet Read(string path, RwkvTokenizer tokenizer, int limit = 0)
    {
        var examples = new List<LambadaExample>();
        int skipped = 0, lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            if (limit > 0 && examples.Count >= limit)
            {
                break;
            }

            LambadaExample? example = Split(TextOf(line, path, lineNumber), lineNumber, tokenizer);
            if (example is null)
            {
                skipped++;
            }
            else
            {
                examples.Add(example);
            }
        }

        return new LambadaSet(examples, skipped);
    }

    /// <summary>Splits a passage at its last space; null when there is no word to predict or nothing before it.</summary>
    public static LambadaExample? Split(string text, int line, RwkvTokenizer tokenizer)
    {
        int space = text.LastIndexOf(' ');
        if (space < 0 || space == text.Length - 1)
        {
            return null;
        }

        int[] context = tokenizer.EncodeToIdArray(text.AsSpan(0, space));
        if (tokenizer.EndOfTextId is int start)
        {
            context = [start, .. context];
        }

        return context.Length == 0 ? null : new LambadaExample(line, context, tokenizer.EncodeToIdArray(text.AsSpan(space)));
    }

    /// <summary>Scores every passage from the zero state, feeding contexts <paramref name="chunk"/> tokens at a time.</summary>
    public static LambadaResult Evaluate(RwkvModel model, IReadOnlyList<LambadaExample> examples, int chunk, IProgress<double>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunk);
        int v = model.Shape.Vocab;
        RwkvState state = model.CreateState();
        float[] scratch = new float[v];
        float[] logits = [];
        int correct = 0;
        double sumMean = 0, sumWord = 0;
        long targetTokens = 0;
        long begin = Stopwatch.GetTimestamp();
        for (int e = 0; e < examples.Count; e++)
        {
            LambadaExample example = examples[e];
            state.Reset();
            ReadOnlySpan<int> context = example.Context;
            for (int at = 0; at < context.Length - 1; at += chunk)
            {
                model.Forward(context.Slice(at, Math.Min(chunk, context.Length - 1 - at)), state, Span<float>.Empty);
            }

            // Rows predicting each target token: fed the last context token, then every target token but the last.
            int[] fed = [context[^1], .. example.Target.AsSpan(0, example.Target.Length - 1)];
            int n = example.Target.Length;
            if (logits.Length < n * v)
            {
                logits = new float[n * v];
            }

            Span<float> rows = logits.AsSpan(0, n * v);
            model.ForwardAll(fed, state, rows);
            double wordNll = 0;
            bool allGreedy = true;
            for (int j = 0; j < n; j++)
            {
                ReadOnlySpan<float> row = rows.Slice(j * v, v);
                wordNll += TokenScores.NegativeLogLikelihood(row, example.Target[j], scratch);
                allGreedy &= TokenScores.IsGreedyChoice(row, example.Target[j]);
            }

            correct += allGreedy ? 1 : 0;
            sumWord += wordNll;
            sumMean += wordNll / n;
            targetTokens += n;
            progress?.Report((double)(e + 1) / examples.Count);
        }

        return new LambadaResult(examples.Count, correct, sumMean, sumWord, targetTokens, Stopwatch.GetElapsedTime(begin));
    }

    private static string TextOf(string line, string path, int lineNumber)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(line);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("text", out JsonElement text)
                && text.ValueKind == JsonValueKind.String)
            {
                return text.GetString()!;
            }
        }
        catch (JsonException e)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{path}:{lineNumber}: not valid JSON ({e.Message})"));
        }

        throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{path}:{lineNumber}: expected an object with a string \"text\""));
    }
}
