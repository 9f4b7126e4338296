using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Sampling;

/// <summary>
/// What each option does to the distribution, checked by 20,000 seeded draws against the exact probabilities.
/// </summary>
[Trait(SimdWidth.Trait, SimdWidth.AllWidths)] // vector paths: rerun on every SIMD width (eng/test.sh)
public sealed class SamplerDistributionTests
{
    private static readonly SamplingOptions Plain = new()
    {
        Temperature = 1, TopP = 1, PresencePenalty = 0, FrequencyPenalty = 0, Seed = 1234,
    };

    private static readonly float[] EightLogits = [2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -3.0f];

    [Fact]
    public void Plain_sampling_follows_the_softmax()
    {
        int[] counts = Distribution.Count(new Sampler(8, Plain), EightLogits);
        Distribution.AssertFits(counts, Distribution.Softmax(EightLogits), "T=1");
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(2.0)]
    public void Temperature_sharpens_or_flattens_the_softmax(double temperature)
    {
        int[] counts = Distribution.Count(new Sampler(8, Plain with { Temperature = (float)temperature }), EightLogits);
        Distribution.AssertFits(counts, Distribution.Softmax(EightLogits, temperature), $"T={temperature}");

        // And it is not the untempered softmax: the same counts fail that fit.
        Assert.ThrowsAny<Exception>(() => Distribution.AssertFits(counts, Distribution.Softmax(EightLogits), "T=1"));
    }

    [Fact]
    public void Top_p_keeps_the_smallest_head_reaching_the_mass()
    {
        double[] p = [0.5, 0.3, 0.1, 0.05, 0.05];
        int[] counts = Distribution.Count(new Sampler(5, Plain with { TopP = 0.7f }), Distribution.LogitsOf(p));
        Distribution.AssertFits(counts, Distribution.Restrict(p, 0, 1), "top-p 0.7");
    }

    [Fact]
    public void Top_p_keeps_tokens_tied_with_the_cut_off()
    {
        double[] p = [0.4, 0.2, 0.2, 0.2];
        int[] counts = Distribution.Count(new Sampler(4, Plain with { TopP = 0.5f }), Distribution.LogitsOf(p));
        Distribution.AssertFits(counts, p, "top-p 0.5 with ties");
    }

    [Fact]
    public void Top_p_then_temperature_reweights_the_kept_tokens()
    {
        double[] p = [0.5, 0.3, 0.1, 0.05, 0.05];
        float[] logits = Distribution.LogitsOf(p);
        int[] counts = Distribution.Count(new Sampler(5, Plain with { TopP = 0.7f, Temperature = 0.5f }), logits);
        double[] tempered = Distribution.Softmax(logits, 0.5);
        Distribution.AssertFits(counts, Distribution.Restrict(tempered, 0, 1), "top-p 0.7 at T=0.5");
    }

    [Fact]
    public void Top_k_keeps_the_k_most_likely()
    {
        int[] counts = Distribution.Count(new Sampler(8, Plain with { TopK = 3 }), EightLogits);
        Distribution.AssertFits(counts, Distribution.Restrict(Distribution.Softmax(EightLogits), 0, 1, 2), "top-k 3");
    }

    [Fact]
    public void Min_p_cuts_the_tail_relative_to_the_most_likely()
    {
        double[] p = [0.5, 0.3, 0.15, 0.05];
        int[] counts = Distribution.Count(new Sampler(4, Plain with { MinP = 0.2f }), Distribution.LogitsOf(p));
        Distribution.AssertFits(counts, Distribution.Restrict(p, 0, 1, 2), "min-p 0.2");

        // Combined with top-k, both cuts apply.
        counts = Distribution.Count(new Sampler(4, Plain with { MinP = 0.2f, TopK = 2 }), Distribution.LogitsOf(p));
        Distribution.AssertFits(counts, Distribution.Restrict(p, 0, 1), "min-p 0.2 and top-k 2");
    }

    [Fact]
    public void Banned_tokens_are_never_drawn()
    {
        var sampler = new Sampler(8, Plain with { BannedTokens = [0, 3] });
        sampler.Ban(5);
        int[] counts = Distribution.Count(sampler, EightLogits);
        Distribution.AssertFits(counts, Distribution.Restrict(Distribution.Softmax(EightLogits), 1, 2, 4, 6, 7), "banned 0, 3, 5");
    }

    [Fact]
    public void Presence_penalty_lowers_a_generated_token_by_a_constant()
    {
        var sampler = new Sampler(2, Plain with { PresencePenalty = 1f });
        sampler.Accept(0);
        sampler.Accept(0); // presence counts once, however often
        int[] counts = Distribution.Count(sampler, [0f, 0f]);
        Distribution.AssertFits(counts, Distribution.Softmax([-1f, 0f]), "presence 1");
    }

    [Fact]
    public void Frequency_penalty_grows_with_each_occurrence_and_decays()
    {
        // decay 0.5: after 0, 0, 1 the counts are 0 -> (1 * 0.5 + 1) * 0.5 = 0.75, 1 -> 1.
        var sampler = new Sampler(3, Plain with { FrequencyPenalty = 1f, PenaltyDecay = 0.5f });
        sampler.Accept(0);
        sampler.Accept(0);
        sampler.Accept(1);
        int[] counts = Distribution.Count(sampler, [0f, 0f, 0f]);
        Distribution.AssertFits(counts, Distribution.Softmax([-0.75f, -1f, 0f]), "frequency 1, decay 0.5");

        sampler.ResetPenalties();
        counts = Distribution.Count(sampler, [0f, 0f, 0f]);
        Distribution.AssertFits(counts, [1 / 3.0, 1 / 3.0, 1 / 3.0], "after reset");
    }

    [Fact]
    public void An_exempt_token_gets_the_presence_penalty_only()
    {
        var sampler = new Sampler(2, Plain with { PresencePenalty = 0.5f, FrequencyPenalty = 1f });
        sampler.Accept(0, weight: 0f);
        sampler.Accept(0, weight: 0f);
        int[] counts = Distribution.Count(sampler, [0f, 0f]);
        Distribution.AssertFits(counts, Distribution.Softmax([-0.5f, 0f]), "weight 0");
    }

    [Fact]
    public void Penalties_lower_repeats_in_a_generation_loop()
    {
        // Flat logits over 16 tokens: without penalty a token repeats one of the last four about 1/4 of the time.
        float[] flat = new float[16];
        double Repeats(SamplingOptions options)
        {
            var sampler = new Sampler(16, options);
            var recent = new Queue<int>();
            int repeats = 0;
            for (int i = 0; i < 4000; i++)
            {
                int token = sampler.Sample(flat);
                repeats += recent.Contains(token) ? 1 : 0;
                recent.Enqueue(token);
                if (recent.Count > 4)
                {
                    recent.Dequeue();
                }

                sampler.Accept(token);
            }

            return repeats / 4000.0;
        }

        double without = Repeats(Plain);
        double with = Repeats(Plain with { PresencePenalty = 0.5f, FrequencyPenalty = 5f, PenaltyDecay = 0.7f });
        Assert.InRange(without, 0.2, 0.3);
        Assert.True(with < without / 4, $"repeats with penalty {with:P1}, without {without:P1}");
    }
}
