using System.Text;
using Rwkv7.Cli.Evaluation;
using Rwkv7.Cli.Tests.Infrastructure;
using Rwkv7.Gen;
using Rwkv7.Gen.Text;

namespace Rwkv7.Cli.Tests.Evaluation;

public sealed class PerplexityTests
{
    private const string Story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine.";

    private static RwkvModel Model => TinyModel.Model;

    /// <summary>Σ −log p(target) one token at a time, with the softmax written out in double precision.</summary>
    private static (double Nll, int Hits, int Count) ScoreOneByOne(IReadOnlyList<int> sequence, int first = 1)
    {
        RwkvState state = Model.CreateState();
        float[] logits = new float[Model.Shape.Vocab];
        double nll = 0;
        int hits = 0;
        for (int t = 0; t + 1 < sequence.Count; t++)
        {
            Model.Forward(sequence[t], state, logits);
            if (t + 1 < first)
            {
                continue;
            }

            double max = logits.Max();
            double logSum = Math.Log(logits.Sum(x => Math.Exp(x - max))) + max;
            nll += logSum - logits[sequence[t + 1]];
            hits += Array.IndexOf(logits, logits.Max()) == sequence[t + 1] ? 1 : 0;
        }

        return (nll, hits, sequence.Count - first);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(128)]
    public void Chunked_sequence_scoring_matches_feeding_one_token_at_a_time(int chunk)
    {
        int[] tokens = Encoding.UTF8.GetBytes(Story).Select(b => (int)b).ToArray();
        PerplexityResult r = TextPerplexity.Evaluate(Model, ByteTokenizer.Instance, tokens, chunk);
        (double nll, int hits, int count) = ScoreOneByOne(tokens);

        Assert.Equal(count, r.Tokens);          // the first byte has nothing to be predicted from
        Assert.Equal(tokens.Length - 1, r.Bytes);
        Assert.Equal(nll, r.TotalNll, nll * 1e-5);
        Assert.Equal(hits, r.GreedyHits);
        Assert.Equal(Math.Exp(nll / count), r.Perplexity, 1e-3);
        Assert.Equal(nll / Math.Log(2) / (tokens.Length - 1), r.BitsPerByte, 1e-5);
    }

    [Fact]
    public void An_end_of_text_token_starts_the_text_so_every_token_is_scored()
    {
        var tokenizer = new EndOfTextBytes(endOfText: 0);
        int[] tokens = Encoding.UTF8.GetBytes(Story).Select(b => (int)b).ToArray();
        PerplexityResult r = TextPerplexity.Evaluate(Model, tokenizer, tokens, chunk: 16);
        (double nll, int hits, int count) = ScoreOneByOne([0, .. tokens]);
        Assert.Equal(tokens.Length, count);
        Assert.Equal(count, r.Tokens);
        Assert.Equal(nll, r.TotalNll, nll * 1e-5);
        Assert.Equal(hits, r.GreedyHits);
    }

    [Fact]
    public void A_limit_scores_only_the_first_tokens()
    {
        int[] tokens = Encoding.UTF8.GetBytes(Story).Select(b => (int)b).ToArray();
        PerplexityResult r = TextPerplexity.Evaluate(Model, ByteTokenizer.Instance, tokens, chunk: 5, limit: 20);
        (double nll, _, _) = ScoreOneByOne(tokens[..21]);
        Assert.Equal(20, r.Tokens);
        Assert.Equal(nll, r.TotalNll, nll * 1e-5);
    }

    [Fact]
    public void The_command_prints_a_table_of_results()
    {
        using var temp = new TempFolder();
        string file = temp.File("story.txt");
        File.WriteAllText(file, Story);
        CliResult r = TestCli.Run(["perplexity", file, "--model", Paths.TinyModel, "--chunk", "16"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        PerplexityResult expected = TextPerplexity.Evaluate(Model, ByteTokenizer.Instance, Encoding.UTF8.GetBytes(Story).Select(b => (int)b).ToArray(), 16);
        Assert.Contains($"tokens       {Story.Length - 1} scored of {Story.Length} ({Story.Length - 1} bytes)", r.Out, StringComparison.Ordinal);
        Assert.Contains(FormattableString.Invariant($"perplexity   {expected.Perplexity:0.###}"), r.Out, StringComparison.Ordinal);
        Assert.Contains("generated Rwkv7.Cli.Models.TinyModel", r.Out, StringComparison.Ordinal);
        Assert.Empty(r.Error); // no progress bar when standard error is not a terminal
    }

    /// <summary>The byte tokenizer with one byte value playing the end-of-text token, as in World vocabularies.</summary>
    private sealed class EndOfTextBytes(int endOfText) : RwkvTokenizer
    {
        public override int VocabularySize => 256;

        public override int? EndOfTextId => endOfText;

        public override ReadOnlySpan<byte> GetTokenBytes(int id) => ByteTokenizer.Instance.GetTokenBytes(id);

        public override int EncodeUtf8(ReadOnlySpan<byte> utf8, Span<int> destination) => ByteTokenizer.Instance.EncodeUtf8(utf8, destination);
    }
}
