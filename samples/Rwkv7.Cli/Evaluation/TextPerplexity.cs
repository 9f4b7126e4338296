using System.Diagnostics;
using Rwkv7.Gen;
using Rwkv7.Gen.Text;

namespace Rwkv7.Cli.Evaluation;

/// <summary>The result of scoring every token of a text.</summary>
/// <param name="Tokens">Tokens scored.</param>
/// <param name="Bytes">UTF-8 bytes of the scored tokens.</param>
/// <param name="TotalNll">Sum of their negative log-likelihoods, in nats.</param>
/// <param name="GreedyHits">Tokens that greedy decoding would have chosen.</param>
/// <param name="Elapsed">Time spent in the model.</param>
internal sealed record PerplexityResult(long Tokens, long Bytes, double TotalNll, long GreedyHits, TimeSpan Elapsed)
{
    public double MeanNll => TotalNll / Tokens;

    public double Perplexity => Math.Exp(MeanNll);

    public double BitsPerByte => TotalNll / Math.Log(2) / Bytes;

    public double GreedyAccuracy => (double)GreedyHits / Tokens;
}

/// <summary>
/// Perplexity of a model over one text read from the zero state: each token is predicted from all the tokens before
/// it. A vocabulary with an end-of-text token (World) starts the text with it, as RWKV's own evaluations do, so every
/// token is scored; a byte-level text has no such token and its first byte is not scored.
/// </summary>
internal static class TextPerplexity
{
    /// <summary>
    /// Scores <paramref name="tokens"/> (at most <paramref name="limit"/> of them; 0 for all), feeding them
    /// <paramref name="chunk"/> at a time in sequence mode.
    /// </summary>
    public static PerplexityResult Evaluate(
        RwkvModel model, RwkvTokenizer tokenizer, ReadOnlySpan<int> tokens, int chunk, long limit = 0, IProgress<double>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunk);
        int[] sequence = tokenizer.EndOfTextId is int start ? [start, .. tokens] : tokens.ToArray();
        int scored = Math.Max(0, sequence.Length - 1);
        if (limit > 0 && limit < scored)
        {
            scored = (int)limit;
        }

        if (scored == 0)
        {
            throw new ArgumentException("The text is too short to score: it needs at least two tokens.");
        }

        ReadOnlySpan<int> inputs = sequence.AsSpan(0, scored);    // token t is fed ...
        ReadOnlySpan<int> targets = sequence.AsSpan(1, scored);   // ... to predict token t + 1
        int v = model.Shape.Vocab;
        float[] logits = new float[Math.Min(chunk, scored) * v];  // [chunk][V]
        float[] scratch = new float[v];
        RwkvState state = model.CreateState();
        double nll = 0;
        long bytes = 0, hits = 0;
        long begin = Stopwatch.GetTimestamp();
        for (int at = 0; at < scored; at += chunk)
        {
            int count = Math.Min(chunk, scored - at);
            Span<float> rows = logits.AsSpan(0, count * v);
            model.ForwardAll(inputs.Slice(at, count), state, rows);
            for (int j = 0; j < count; j++)
            {
                ReadOnlySpan<float> row = rows.Slice(j * v, v);
                int target = targets[at + j];
                nll += TokenScores.NegativeLogLikelihood(row, target, scratch);
                hits += TokenScores.IsGreedyChoice(row, target) ? 1 : 0;
                bytes += tokenizer.GetTokenBytes(target).Length;
            }

            progress?.Report((double)(at + count) / scored);
        }

        return new PerplexityResult(scored, bytes, nll, hits, Stopwatch.GetElapsedTime(begin));
    }
}
