using System.Runtime.InteropServices;
using System.Text;
using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Sessions;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Tests.Sessions;

/// <summary>Sessions on the tiny byte-level model: prefill, generation, stops, streaming, forks, caching, saving.</summary>
public sealed class RwkvSessionTests
{
    private const string Prompt = "Once upon a time";

    private static readonly GenerationOptions Greedy = new() { Sampling = SamplingOptions.Greedy, MaxTokens = 40 };

    private static RwkvModel Model => SharedModels.Tiny;

    [Fact]
    public void Greedy_generation_is_the_argmax_loop_over_the_model()
    {
        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        session.Append(Prompt);
        GenerationResult result = session.Generate(Greedy);

        // The same by hand.
        RwkvState state = Model.CreateState();
        float[] logits = new float[256];
        Model.Forward(Encoding.UTF8.GetBytes(Prompt).Select(b => (int)b).ToArray(), state, logits);
        var expected = new List<int>();
        for (int i = 0; i < 40; i++)
        {
            int token = Array.IndexOf(logits, logits.Max());
            expected.Add(token);
            Model.Forward(token, state, logits);
        }

        Assert.Equal(expected, result.Tokens);
        Assert.Equal(Encoding.UTF8.GetString(expected.Select(t => (byte)t).ToArray()), result.Text);
        Assert.Equal(GenerationStopReason.MaxTokens, result.StopReason);
        AssertBits(state.Data, session.State.Data, "state");
        AssertBits(logits, session.Logits, "logits");
        Assert.Equal(Prompt.Length + 40, session.History!.Count);
    }

    [Fact]
    public void Generating_in_two_calls_continues_exactly_where_the_first_stopped()
    {
        var once = new RwkvSession(Model, ByteTokenizer.Instance);
        once.Append(Prompt);
        GenerationResult all = once.Generate(Greedy with { MaxTokens = 30 });

        var twice = new RwkvSession(Model, ByteTokenizer.Instance);
        twice.Append(Prompt);
        GenerationResult first = twice.Generate(Greedy with { MaxTokens = 12 });
        GenerationResult second = twice.Generate(Greedy with { MaxTokens = 18 });

        Assert.Equal(all.Tokens, first.Tokens.Concat(second.Tokens));
        Assert.Equal(all.Text, first.Text + second.Text);
        AssertBits(once.State.Data, twice.State.Data, "state");
    }

    [Fact]
    public void A_stop_sequence_ends_generation_and_is_not_returned()
    {
        var probe = new RwkvSession(Model, ByteTokenizer.Instance);
        probe.Append(Prompt);
        string free = probe.Generate(Greedy).Text;
        string stop = free.Substring(10, 3); // something the model is known to write
        int at = free.IndexOf(stop, StringComparison.Ordinal);

        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        session.Append(Prompt);
        GenerationResult result = session.Generate(Greedy with { StopSequences = ["never appears", stop] });

        Assert.Equal(free[..at], result.Text);
        Assert.Equal(GenerationStopReason.StopSequence, result.StopReason);
        Assert.Equal(stop, result.StopSequence);
        Assert.Equal(at + stop.Length, result.Tokens.Count); // byte model: the stop's tokens were fed, nothing after
    }

    [Fact]
    public void A_stop_token_is_neither_fed_nor_returned()
    {
        var probe = new RwkvSession(Model, ByteTokenizer.Instance);
        probe.Append(Prompt);
        GenerationResult free = probe.Generate(Greedy);
        int stopToken = free.Tokens[5];
        int at = free.Tokens.ToList().IndexOf(stopToken);

        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        session.Append(Prompt);
        GenerationResult result = session.Generate(Greedy with { StopTokens = [stopToken] });

        Assert.Equal(GenerationStopReason.StopToken, result.StopReason);
        Assert.Equal(stopToken, result.StopToken);
        Assert.Equal(free.Tokens.Take(at), result.Tokens);
        Assert.Equal(Prompt.Length + at, session.History!.Count);
    }

    [Fact]
    public async Task Streaming_gives_the_same_text_in_pieces()
    {
        var plain = new RwkvSession(Model, ByteTokenizer.Instance);
        plain.Append(Prompt);
        GenerationResult expected = plain.Generate(Greedy);

        var streaming = new RwkvSession(Model, ByteTokenizer.Instance);
        streaming.Append(Prompt);
        List<string> pieces = await Collect(streaming.GenerateStreamingAsync(Greedy));

        Assert.True(pieces.Count > 10);
        Assert.Equal(expected.Text, string.Concat(pieces));
        Assert.Equal(expected.Tokens, streaming.LastGeneration!.Tokens);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Streaming_never_emits_a_broken_character(long seed)
    {
        // Every token of this tokenizer is a piece of a multi-byte character or ASCII.
        var tokenizer = new FragmentTokenizer();
        var session = new RwkvSession(Model, tokenizer);
        session.Append(Prompt);
        var options = new GenerationOptions { MaxTokens = 200, Sampling = SamplingOptions.Default with { Seed = seed, Temperature = 2f, TopP = 1f } };
        List<string> pieces = await Collect(session.GenerateStreamingAsync(options));

        IReadOnlyList<int> tokens = session.LastGeneration!.Tokens;
        byte[] bytes = tokenizer.DecodeToUtf8(tokens.ToArray());
        int pending = Utf8Boundaries.IncompleteSuffixLength(bytes);

        // Reassembling in pieces equals decoding all bytes at once: no character was cut by a token boundary.
        Assert.Equal(Encoding.UTF8.GetString(bytes.AsSpan(0, bytes.Length - pending)), string.Concat(pieces));
        Assert.All(pieces, p => Assert.False(char.IsHighSurrogate(p[^1]), "a piece ends with half a surrogate pair"));
        Assert.Contains(pieces, p => p.Any(c => c > 0x7F && c != '\uFFFD')); // real characters made it through
    }

    [Fact]
    public async Task Cancellation_stops_a_stream_and_keeps_the_session_consistent()
    {
        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        session.Append(Prompt);
        using var cts = new CancellationTokenSource();
        var pieces = new List<string>();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (string piece in session.GenerateStreamingAsync(Greedy with { MaxTokens = 1000 }, cts.Token))
            {
                pieces.Add(piece);
                if (pieces.Count == 5)
                {
                    await cts.CancelAsync();
                }
            }
        });

        Assert.Equal(5, pieces.Count);
        Assert.Equal(Prompt.Length + 5, session.History!.Count); // the tokens drawn were fed

        // Usable again, and it continues from where it was cut.
        var reference = new RwkvSession(Model, ByteTokenizer.Instance);
        reference.Append(Prompt);
        GenerationResult ten = reference.Generate(Greedy with { MaxTokens = 10 });
        GenerationResult rest = session.Generate(Greedy with { MaxTokens = 5 });
        Assert.Equal(ten.Tokens.Skip(5), rest.Tokens);
    }

    [Fact]
    public void A_cancelled_token_stops_before_the_first_draw()
    {
        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        session.Append(Prompt);
        Assert.ThrowsAny<OperationCanceledException>(() => session.Generate(Greedy, new CancellationToken(canceled: true)));
        Assert.Equal(Prompt.Length, session.History!.Count);
    }

    [Fact]
    public void A_cancelled_prefill_feeds_nothing_and_leaves_the_session_as_it_was()
    {
        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        session.Append(Prompt);
        float[] before = session.State.Data.ToArray();
        string longText = string.Concat(Enumerable.Repeat("and then ", 80)); // 720 tokens: three chunks

        Assert.ThrowsAny<OperationCanceledException>(() => session.Append(longText, cancellationToken: new CancellationToken(canceled: true)));
        Assert.Equal(Prompt.Length, session.History!.Count);
        AssertBits(before, session.State.Data, "state");
        Assert.True(session.HasLogits);

        session.Append(longText); // chunked prefill gives the same as feeding the chunks one by one
        var byChunks = new RwkvSession(Model, ByteTokenizer.Instance);
        byChunks.Append(Prompt);
        for (int start = 0; start < longText.Length; start += RwkvSession.PrefillChunkTokens)
        {
            byChunks.Append(longText.Substring(start, Math.Min(RwkvSession.PrefillChunkTokens, longText.Length - start)));
        }

        AssertBits(byChunks.State.Data, session.State.Data, "chunked prefill");
        AssertBits(byChunks.Logits, session.Logits, "chunked prefill logits");
    }

    [Fact]
    public async Task A_session_serves_one_caller_at_a_time()
    {
        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        session.Append(Prompt);
        IAsyncEnumerator<string> running = session.GenerateStreamingAsync(Greedy).GetAsyncEnumerator();
        Assert.True(await running.MoveNextAsync());

        Assert.Throws<InvalidOperationException>(() => session.Append("more"));
        Assert.Throws<InvalidOperationException>(() => session.Generate(Greedy));

        await running.DisposeAsync();
        session.Append(" more"); // free again
    }

    [Fact]
    public void Generating_before_any_prompt_is_an_error()
    {
        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        Assert.Throws<InvalidOperationException>(() => session.Generate());
        Assert.Throws<InvalidOperationException>(() => session.Logits.ToArray());
    }

    [Fact]
    public void A_fork_continues_on_its_own()
    {
        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        session.Append(Prompt);
        float[] stateBefore = session.State.Data.ToArray();

        RwkvSession fork = session.Fork();
        GenerationResult fromFork = fork.Generate(Greedy);
        AssertBits(stateBefore, session.State.Data, "original after the fork generated");

        GenerationResult fromOriginal = session.Generate(Greedy);
        Assert.Equal(fromOriginal.Tokens, fromFork.Tokens);
        Assert.NotSame(session.State, fork.State);
    }

    [Fact]
    public void A_seed_makes_a_sampled_generation_reproducible()
    {
        string Run(long seed)
        {
            var session = new RwkvSession(Model, ByteTokenizer.Instance);
            session.Append(Prompt);
            return session.Generate(new GenerationOptions { MaxTokens = 60, Sampling = SamplingOptions.Default with { Seed = seed } }).Text;
        }

        Assert.Equal(Run(7), Run(7));
        Assert.NotEqual(Run(7), Run(8));

        // The same session and seed repeat themselves too (the sampler restarts its seed each call).
        var again = new RwkvSession(Model, ByteTokenizer.Instance);
        again.Append(Prompt);
        RwkvSession copy = again.Fork();
        var options = new GenerationOptions { MaxTokens = 60, Sampling = SamplingOptions.Default with { Seed = 7 } };
        Assert.Equal(Run(7), again.Generate(options).Text);
        Assert.Equal(Run(7), copy.Generate(options).Text);
    }

    [Fact]
    public void A_saved_session_resumes_bit_for_bit()
    {
        string path = Path.Combine(Path.GetTempPath(), $"rwkv-session-{Guid.NewGuid():N}.rwkvstate");
        try
        {
            var session = new RwkvSession(Model, ByteTokenizer.Instance);
            session.Append(Prompt);
            session.Generate(Greedy with { MaxTokens = 7 });
            session.SaveState(path);
            GenerationResult continued = session.Generate(Greedy with { MaxTokens = 20 });

            var resumed = new RwkvSession(Model, ByteTokenizer.Instance);
            Assert.True(resumed.LoadState(path).HasLogits);
            Assert.Null(resumed.History);
            GenerationResult afterLoad = resumed.Generate(Greedy with { MaxTokens = 20 });

            Assert.Equal(continued.Tokens, afterLoad.Tokens);
            AssertBits(session.State.Data, resumed.State.Data, "state");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Ids_beyond_the_tokenizer_are_never_generated()
    {
        // mh4 has 512 logits; the byte tokenizer decodes only 256.
        var session = new RwkvSession(SharedModels.Mh4, ByteTokenizer.Instance);
        session.Append([1, 2, 3, 300, 400]);
        GenerationResult result = session.Generate(new GenerationOptions { MaxTokens = 300, Sampling = SamplingOptions.Default with { Seed = 1, Temperature = 3, TopP = 1 } });
        Assert.Equal(300, result.Tokens.Count);
        Assert.All(result.Tokens, t => Assert.InRange(t, 0, 255));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Append([512]));
    }

    internal static async Task<List<string>> Collect(IAsyncEnumerable<string> stream)
    {
        var pieces = new List<string>();
        await foreach (string piece in stream)
        {
            pieces.Add(piece);
        }

        return pieces;
    }

    internal static void AssertBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int same = MemoryMarshal.Cast<float, int>(expected).CommonPrefixLength(MemoryMarshal.Cast<float, int>(actual));
        Assert.True(same == expected.Length, $"{what}: first difference at {same}");
    }
}
