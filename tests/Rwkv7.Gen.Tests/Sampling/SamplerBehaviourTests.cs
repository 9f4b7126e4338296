using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Sampling;

/// <summary>Greedy choices, validation, reproducibility, allocation and the candidate search on a full vocabulary.</summary>
[Trait(SimdWidth.Trait, SimdWidth.AllWidths)] // vector paths: rerun on every SIMD width (eng/test.sh)
public sealed class SamplerBehaviourTests
{
    private const int WorldVocab = 65_536;

    [Fact]
    public void Greedy_takes_the_largest_logit_and_the_lowest_id_on_ties()
    {
        var sampler = new Sampler(5, SamplingOptions.Greedy);
        Assert.Equal(2, sampler.Sample([0f, 1f, 3f, 2f, 3f]));

        var banned = new Sampler(5, SamplingOptions.Greedy with { BannedTokens = [2, 4] });
        Assert.Equal(3, banned.Sample([0f, 1f, 3f, 2f, 3f]));
    }

    [Fact]
    public void Top_k_of_one_is_greedy()
    {
        float[] logits = RandomLogits(WorldVocab, seed: 7);
        int expected = Array.IndexOf(logits, logits.Max());
        var sampler = new Sampler(WorldVocab, new SamplingOptions { TopK = 1, TopP = 1, Temperature = 1.5f, Seed = 3 });
        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(expected, sampler.Sample(logits));
        }
    }

    [Fact]
    public void The_same_seed_gives_the_same_draws_and_another_seed_does_not()
    {
        float[] logits = RandomLogits(WorldVocab, seed: 11);
        int[] Draw(long seed)
        {
            var sampler = new Sampler(WorldVocab, SamplingOptions.Default with { Seed = seed });
            int[] tokens = new int[300];
            for (int i = 0; i < tokens.Length; i++)
            {
                tokens[i] = sampler.Sample(logits);
                sampler.Accept(tokens[i]);
            }

            return tokens;
        }

        Assert.Equal(Draw(42), Draw(42));
        Assert.NotEqual(Draw(42), Draw(43));

        // Reseeding restarts the sequence.
        var s = new Sampler(8, SamplingOptions.Default with { Seed = 5, TopP = 1 });
        float[] flat = new float[8];
        int[] first = Enumerable.Range(0, 50).Select(_ => s.Sample(flat)).ToArray();
        s.Reseed(5);
        Assert.Equal(first, Enumerable.Range(0, 50).Select(_ => s.Sample(flat)).ToArray());
    }

    [Fact]
    public void Xoshiro_matches_the_reference_sequence()
    {
        // From state {1, 2, 3, 4}, worked out from the published algorithm.
        var rng = new Xoshiro256StarStar(1, 2, 3, 4);
        Assert.Equal(11520UL, rng.NextUInt64());
        Assert.Equal(0UL, rng.NextUInt64());
        Assert.Equal(1509978240UL, rng.NextUInt64());

        // Seeded generators are uniform enough: 16 bins of 64,000 doubles.
        var seeded = new Xoshiro256StarStar(2025);
        int[] bins = new int[16];
        for (int i = 0; i < 64_000; i++)
        {
            double u = seeded.NextDouble();
            Assert.InRange(u, 0.0, 0.9999999999999999);
            bins[(int)(u * 16)]++;
        }

        Distribution.AssertFits(bins, Enumerable.Repeat(1 / 16.0, 16).ToArray(), "uniform bins");
    }

    [Theory]
    [InlineData(nameof(SamplingOptions.Temperature), -0.1f)]
    [InlineData(nameof(SamplingOptions.Temperature), float.NaN)]
    [InlineData(nameof(SamplingOptions.Temperature), float.PositiveInfinity)]
    [InlineData(nameof(SamplingOptions.TopP), 0f)]
    [InlineData(nameof(SamplingOptions.TopP), 1.01f)]
    [InlineData(nameof(SamplingOptions.TopP), float.NaN)]
    [InlineData(nameof(SamplingOptions.MinP), -0.1f)]
    [InlineData(nameof(SamplingOptions.MinP), 1.5f)]
    [InlineData(nameof(SamplingOptions.PresencePenalty), float.NaN)]
    [InlineData(nameof(SamplingOptions.FrequencyPenalty), float.NegativeInfinity)]
    [InlineData(nameof(SamplingOptions.PenaltyDecay), 1.01f)]
    [InlineData(nameof(SamplingOptions.PenaltyDecay), -0.5f)]
    public void Bad_options_are_refused_with_the_option_named(string option, float value)
    {
        SamplingOptions options = option switch
        {
            nameof(SamplingOptions.Temperature) => new() { Temperature = value },
            nameof(SamplingOptions.TopP) => new() { TopP = value },
            nameof(SamplingOptions.MinP) => new() { MinP = value },
            nameof(SamplingOptions.PresencePenalty) => new() { PresencePenalty = value },
            nameof(SamplingOptions.FrequencyPenalty) => new() { FrequencyPenalty = value },
            _ => new() { PenaltyDecay = value },
        };
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(10, options));
        Assert.Equal(option, e.ParamName);
    }

    [Fact]
    public void Bad_top_k_and_banned_tokens_are_refused()
    {
        Assert.Equal("TopK", Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(10, new SamplingOptions { TopK = -1 })).ParamName);
        Assert.Equal("BannedTokens", Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(10, new SamplingOptions { BannedTokens = [10] })).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(10).Ban(-1));
        Assert.Throws<ArgumentException>(() => new Sampler(10).Sample(new float[9]));
    }

    [Fact]
    public void Broken_logits_and_a_fully_banned_vocabulary_are_errors()
    {
        Assert.Throws<RwkvException>(() => new Sampler(3).Sample([0f, float.NaN, 1f]));
        Assert.Throws<InvalidOperationException>(() => new Sampler(2, new SamplingOptions { BannedTokens = [0, 1] }).Sample([0f, 1f]));
        Assert.Throws<InvalidOperationException>(() => new Sampler(2, SamplingOptions.Greedy with { BannedTokens = [0, 1] }).Sample([0f, 1f]));
    }

    [Fact]
    public void Sampling_allocates_nothing_in_steady_state()
    {
        float[] logits = RandomLogits(WorldVocab, seed: 3);
        foreach (SamplingOptions options in new[]
        {
            SamplingOptions.Default with { Seed = 1 },
            SamplingOptions.Default with { Seed = 1, TopP = 1, MinP = 0.05f, Temperature = 0.7f },
            SamplingOptions.Default with { Seed = 1, TopK = 40 },
            SamplingOptions.Greedy,
        })
        {
            var sampler = new Sampler(WorldVocab, options);
            // Warm up past first-use paths and the JIT's tiering, which promotes hot methods in the background some
            // 100 ms after their first calls (and can allocate on the caller while doing so).
            var warmUp = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < 300 || warmUp.ElapsedMilliseconds < 500; i++)
            {
                sampler.Accept(sampler.Sample(logits));
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 300; i++)
            {
                sampler.Accept(sampler.Sample(logits));
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated == 0, $"{options}: {allocated} bytes allocated in 300 draws");
        }
    }

    [Theory]
    [InlineData(0.85, 0)]
    [InlineData(0.3, 0)]
    [InlineData(0.999, 0)]
    [InlineData(1.0, 40)]
    [InlineData(0.6, 5)]
    public void Candidate_search_returns_the_head_of_a_full_sort(double topP, int topK)
    {
        for (int seed = 0; seed < 5; seed++)
        {
            float[] logits = PeakedLogits(WorldVocab, seed);
            float max = logits.Max();
            float[] p = logits.Select(l => MathF.Exp(l - max)).ToArray();
            double? target = topP < 1 ? topP * p.Sum(x => (double)x) : null;

            int[] candidates = new int[WorldVocab];
            int m = CandidateSelection.Select(p, candidates, new float[WorldVocab], topK, target);

            int[] sorted = Enumerable.Range(0, WorldVocab).OrderByDescending(i => p[i]).ThenBy(i => i).ToArray();
            Assert.Equal(sorted[..m], candidates[..m]);
            bool enough = (topK > 0 && m >= topK) || (target is double t && candidates[..m].Sum(i => (double)p[i]) >= t);
            Assert.True(enough, $"seed {seed}: {m} candidates are not enough");
            if (topP <= 0.85 || topK > 0)
            {
                Assert.True(m < WorldVocab / 20, $"seed {seed}: {m} candidates, the search did not narrow much");
            }
        }
    }

    [Fact]
    public void Whitespace_and_digit_tokens_are_exempt_as_in_the_pip_pipeline()
    {
        Gen.Text.WorldTokenizer world = Tests.Text.WorldTokenizerFixture.Tokenizer;
        int Id(string s) => Assert.Single(world.EncodeToIds(s));
        Assert.True(WhitespaceAndDigitTokens.IsExempt(world, Id(" ")));
        Assert.True(WhitespaceAndDigitTokens.IsExempt(world, Id("\t")));
        Assert.True(WhitespaceAndDigitTokens.IsExempt(world, Id("7")));
        Assert.True(WhitespaceAndDigitTokens.IsExempt(world, 0)); // empty text, like Python's '' in '...'
        Assert.False(WhitespaceAndDigitTokens.IsExempt(world, Id("\n")));
        Assert.False(WhitespaceAndDigitTokens.IsExempt(world, Id("a")));
        Assert.False(WhitespaceAndDigitTokens.IsExempt(world, Id(" the")));

        Assert.Equal(0f, WhitespaceAndDigitTokens.OccurrenceWeight(world, Id(" "), SamplingOptions.Default));
        Assert.Equal(1f, WhitespaceAndDigitTokens.OccurrenceWeight(world, Id(" "), SamplingOptions.Default with { ExemptWhitespaceAndDigits = false }));
    }

    /// <summary>Like a language model's output: normal noise, and a few tokens far ahead holding most of the mass.</summary>
    private static float[] PeakedLogits(int count, int seed)
    {
        var random = new Random(seed);
        float[] logits = new float[count];
        for (int i = 0; i < count; i++)
        {
            double gaussian = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            logits[i] = (float)(2 * gaussian);
        }

        for (int k = 0; k < 20; k++)
        {
            logits[random.Next(count)] += 10 + (float)(random.NextDouble() * 6);
        }

        return logits;
    }

    private static float[] RandomLogits(int count, int seed, float spread = 4f)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * spread * 2) - spread).ToArray();
    }
}
