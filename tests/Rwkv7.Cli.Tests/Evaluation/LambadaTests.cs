using System.Text;
using Rwkv7.Cli.Evaluation;
using Rwkv7.Cli.Tests.Infrastructure;
using Rwkv7.Gen;
using Rwkv7.Gen.Text;

namespace Rwkv7.Cli.Tests.Evaluation;

public sealed class LambadaTests
{
    private static readonly string[] Passages =
    [
        "Once upon a time, there was a little girl named Lily. She liked to play with her ball. One day she lost her ball",
        "The cat sat on the mat and the dog sat on the log. The cat looked at the dog",
        "Tom had a big red truck. He played with his truck all day. At night he put it under his bed. Tom loved his truck",
    ];

    private static RwkvModel Model => TinyModel.Model;

    [Theory]
    [InlineData("a b c", "a b", " c")]
    [InlineData("one", null, null)]
    [InlineData("ends with a space ", null, null)]
    [InlineData(" x", null, null)]
    public void The_last_word_is_the_text_after_the_last_space(string text, string? context, string? target)
    {
        LambadaExample? e = LambadaEvaluation.Split(text, 1, ByteTokenizer.Instance);
        if (context is null)
        {
            Assert.Null(e); // nothing to predict, or (byte vocabulary, no start token) nothing to predict it from
            return;
        }

        Assert.NotNull(e);
        Assert.Equal(Encoding.UTF8.GetBytes(context).Select(b => (int)b), e.Context);
        Assert.Equal(Encoding.UTF8.GetBytes(target!).Select(b => (int)b), e.Target);
    }

    [Fact]
    public void Accuracy_and_perplexity_match_real_greedy_decoding_and_a_written_out_softmax()
    {
        List<LambadaExample> examples = [.. Passages.Select((p, i) => LambadaEvaluation.Split(p, i + 1, ByteTokenizer.Instance)!)];
        LambadaResult r = LambadaEvaluation.Evaluate(Model, examples, chunk: 9);

        int correct = 0;
        double sumMean = 0, sumWord = 0;
        foreach (LambadaExample e in examples)
        {
            // Greedy decoding of as many tokens as the word has, from the context alone.
            byte[] context = e.Context.Select(t => (byte)t).ToArray();
            byte[] decoded = TinyModel.GreedyContinuation(context, e.Target.Length);
            correct += decoded.Select(b => (int)b).SequenceEqual(e.Target) ? 1 : 0;

            // The word's NLL, token by token under teacher forcing.
            RwkvState state = Model.CreateState();
            float[] logits = new float[Model.Shape.Vocab];
            Model.Forward(e.Context, state, logits);
            double nll = 0;
            foreach (int target in e.Target)
            {
                double max = logits.Max();
                nll += Math.Log(logits.Sum(x => Math.Exp(x - max))) + max - logits[target];
                Model.Forward(target, state, logits);
            }

            sumWord += nll;
            sumMean += nll / e.Target.Length;
        }

        Assert.Equal(examples.Count, r.Examples);
        Assert.Equal(correct, r.Correct);
        Assert.Equal(sumWord, r.SumWordNll, sumWord * 1e-5);
        Assert.Equal(Math.Exp(sumMean / examples.Count), r.Perplexity, r.Perplexity * 1e-5);
        Assert.Equal(Math.Exp(sumWord / examples.Count), r.WordPerplexity, r.WordPerplexity * 1e-4);
    }

    [Fact]
    public void A_passage_the_model_knows_counts_as_correct()
    {
        // Greedy decoding's own continuation, cut after a word, is by construction predicted exactly.
        string prompt = "Once upon a time, there was a";
        string full = prompt + TinyModel.GreedyContinuation(prompt, 30);
        int wordStart = full.IndexOf(' ', prompt.Length + 1);
        int wordEnd = full.IndexOf(' ', wordStart + 1);
        Assert.True(wordStart > 0 && wordEnd > wordStart + 1, full);
        LambadaExample e = LambadaEvaluation.Split(full[..wordEnd], 1, ByteTokenizer.Instance)!;
        Assert.Equal(wordEnd - wordStart, e.Target.Length);

        LambadaResult r = LambadaEvaluation.Evaluate(Model, [e], chunk: 4);
        Assert.Equal(1, r.Correct);

        // And a word the model would not write is not.
        LambadaExample wrong = LambadaEvaluation.Split(full[..wordStart] + " zqxj", 1, ByteTokenizer.Instance)!;
        Assert.Equal(0, LambadaEvaluation.Evaluate(Model, [wrong], chunk: 4).Correct);
    }

    [Fact]
    public void The_command_reads_jsonl_and_names_a_bad_line()
    {
        using var temp = new TempFolder();
        string good = temp.File("passages.jsonl");
        File.WriteAllLines(good, [.. Passages.Select(p => $"{{\"text\": \"{p}\"}}"), "", "{\"text\": \"oneword\"}"]);
        CliResult r = TestCli.Run(["perplexity", good, "--model", Paths.TinyModel]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("passages     3 scored, 1 skipped", r.Out, StringComparison.Ordinal);
        Assert.Contains("accuracy     ", r.Out, StringComparison.Ordinal);

        string bad = temp.File("bad.jsonl");
        File.WriteAllLines(bad, ["{\"text\": \"a b\"}", "{\"txt\": \"a b\"}"]);
        CliResult failed = TestCli.Run(["perplexity", bad, "--model", Paths.TinyModel]);
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("bad.jsonl:2: expected an object with a string \"text\"", Assert.Single(failed.ErrorLines), StringComparison.Ordinal);
        Assert.Empty(failed.Out);
    }
}
