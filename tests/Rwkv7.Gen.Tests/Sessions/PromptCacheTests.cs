using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Sessions;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Tests.Sessions;

/// <summary>A shared prompt is run through the model once; sessions that start with it begin from the snapshot.</summary>
public sealed class PromptCacheTests
{
    private const string System = "System: You are a storyteller.\n\n";
    private const string User = "User: tell me a story\n\nAssistant:";

    private static RwkvModel Model => SharedModels.Tiny;

    [Fact]
    public void A_cached_system_prompt_is_prefilled_once()
    {
        var cache = new PromptCache(Model);
        var first = new RwkvSession(Model, ByteTokenizer.Instance, cache);
        first.Append(System, cacheable: true);
        Assert.Equal(System.Length, first.ForwardedTokenCount);
        Assert.Equal(1, cache.Count);

        var second = new RwkvSession(Model, ByteTokenizer.Instance, cache);
        second.Append(System);
        Assert.Equal(0, second.ForwardedTokenCount);
        Assert.Equal(1, cache.Hits);
        RwkvSessionTests.AssertBits(first.State.Data, second.State.Data, "state from the snapshot");
        RwkvSessionTests.AssertBits(first.Logits, second.Logits, "logits from the snapshot");
        Assert.Equal(first.History, second.History);

        // Continuing from the snapshot is exactly continuing from a prefill.
        var uncached = new RwkvSession(Model, ByteTokenizer.Instance);
        uncached.Append(System);
        uncached.Append(User);
        second.Append(User);
        Assert.Equal(System.Length + User.Length, uncached.ForwardedTokenCount);
        Assert.Equal(User.Length, second.ForwardedTokenCount);
        RwkvSessionTests.AssertBits(uncached.State.Data, second.State.Data, "state after the user turn");

        var greedy = new GenerationOptions { MaxTokens = 20, Sampling = SamplingOptions.Greedy };
        Assert.Equal(uncached.Generate(greedy).Tokens, second.Generate(greedy).Tokens);
    }

    [Fact]
    public void The_longest_cached_prefix_of_an_appended_text_is_used()
    {
        var cache = new PromptCache(Model);
        var builder = new RwkvSession(Model, ByteTokenizer.Instance, cache);
        builder.Append("Once ", cacheable: true);
        builder.Append("upon ", cacheable: true);
        Assert.Equal(2, cache.Count);

        var session = new RwkvSession(Model, ByteTokenizer.Instance, cache);
        session.Append("Once upon a time");
        Assert.Equal("a time".Length, session.ForwardedTokenCount);

        var plain = new RwkvSession(Model, ByteTokenizer.Instance);
        plain.Append("Once ");
        plain.Append("upon ");
        plain.Append("a time");
        RwkvSessionTests.AssertBits(plain.State.Data, session.State.Data, "state");
    }

    [Fact]
    public void An_entry_only_applies_to_a_session_whose_history_it_extends()
    {
        var cache = new PromptCache(Model);
        new RwkvSession(Model, ByteTokenizer.Instance, cache).Append(System, cacheable: true);

        var other = new RwkvSession(Model, ByteTokenizer.Instance, cache);
        other.Append("Hello. ");
        other.Append(System); // the same text, but after something else: no snapshot fits
        Assert.Equal("Hello. ".Length + System.Length, other.ForwardedTokenCount);
        Assert.Equal(0, cache.Hits);
    }

    [Fact]
    public void Least_recently_used_entries_are_evicted()
    {
        var cache = new PromptCache(Model, capacity: 2);
        var session = new RwkvSession(Model, ByteTokenizer.Instance, cache);
        foreach (string prompt in new[] { "A", "B", "C" })
        {
            session.Reset();
            session.Append(prompt, cacheable: true);
        }

        Assert.Equal(2, cache.Count);
        var probe = new RwkvSession(Model, ByteTokenizer.Instance, cache);
        probe.Append("A");
        Assert.Equal(1, probe.ForwardedTokenCount); // "A" was evicted
        probe.Reset();
        probe.Append("C");
        Assert.Equal(1, probe.ForwardedTokenCount); // "C" restored: nothing new forwarded
    }

    [Fact]
    public void A_cache_belongs_to_one_model()
    {
        var cache = new PromptCache(SharedModels.Mh4);
        Assert.Throws<ArgumentException>(() => new RwkvSession(Model, ByteTokenizer.Instance, cache));
    }
}
