using System.Text;
using Microsoft.Extensions.AI;
using Rwkv7.Gen.Chat;
using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Sessions;
using Rwkv7.Gen.Tests.Sessions;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Tests.Chat;

/// <summary>
/// The chat client on the tiny model, checked against a plain session fed the G1 template by hand: the same tokens
/// in, the same greedy reply out.
/// </summary>
public sealed class RwkvChatClientTests
{
    private const int MaxTokens = 30;

    private static readonly RwkvChatClientOptions GreedyOptions = new() { Sampling = SamplingOptions.Greedy, MaxOutputTokens = MaxTokens };

    private static RwkvModel Model => SharedModels.Tiny;

    [Fact]
    public async Task A_reply_is_the_model_continuing_the_g1_template()
    {
        using var client = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        ChatResponse response = await client.GetResponseAsync(
            [new ChatMessage(ChatRole.System, "You tell stories."), new ChatMessage(ChatRole.User, "Once upon\n\n\na time?")]);

        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        session.Append("System: You tell stories.\n\n");
        (string expected, GenerationResult result) = Continue(session, "User: Once upon\na time?\n\nAssistant:", ChatThinking.Off);

        Assert.Equal(expected, response.Text);
        Assert.Equal(ChatRole.Assistant, response.Messages.Single().Role);
        Assert.Equal(result.StopReason == GenerationStopReason.MaxTokens ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(session.History!.Count - result.Tokens.Count, response.Usage!.InputTokenCount);
        Assert.Equal(result.Tokens.Count, response.Usage.OutputTokenCount);
        Assert.Equal("rwkv7", response.ModelId);
        Assert.False(char.IsWhiteSpace(response.Text[0]));
    }

    [Fact]
    public async Task Instructions_are_a_system_turn()
    {
        using var withInstructions = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        using var withSystemMessage = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        ChatResponse a = await withInstructions.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { Instructions = "Be kind." });
        ChatResponse b = await withSystemMessage.GetResponseAsync([new ChatMessage(ChatRole.System, "Be kind."), new ChatMessage(ChatRole.User, "Hi")]);
        Assert.Equal(b.Text, a.Text);
        Assert.Equal(b.Usage!.InputTokenCount, a.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task Streaming_gives_the_same_reply_and_ends_with_usage()
    {
        ChatMessage[] messages = [new ChatMessage(ChatRole.User, "Tell me about the sea.")];
        using var plain = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        ChatResponse expected = await plain.GetResponseAsync(messages);

        using var streaming = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in streaming.GetStreamingResponseAsync(messages))
        {
            updates.Add(update);
        }

        Assert.True(updates.Count > 5);
        Assert.Equal(expected.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
        ChatResponseUpdate last = updates[^1];
        Assert.Equal(expected.FinishReason, last.FinishReason);
        UsageContent usage = Assert.IsType<UsageContent>(Assert.Single(last.Contents));
        Assert.Equal(expected.Usage!.InputTokenCount, usage.Details.InputTokenCount);
        Assert.Equal(expected.Usage.OutputTokenCount, usage.Details.OutputTokenCount);

        ChatResponse combined = updates.ToChatResponse();
        Assert.Equal(expected.Text, combined.Text);
    }

    [Theory]
    [InlineData(null, false)] // greedy: the tiny model rambles until the token limit cuts the reply
    [InlineData(3L, true)]    // sampled with seed 3: the reply ends its turn with a blank line
    public async Task A_continued_conversation_feeds_only_the_new_turn(long? seed, bool firstReplyEndsItsTurn)
    {
        SamplingOptions sampling = seed is long s ? RwkvChatClientOptions.DefaultSampling with { Seed = s } : SamplingOptions.Greedy;
        using var client = new RwkvChatClient(Model, ByteTokenizer.Instance, new RwkvChatClientOptions { Sampling = sampling, MaxOutputTokens = 200 });
        var history = new List<ChatMessage> { new(ChatRole.User, "Who are you?") };
        ChatResponse first = await client.GetResponseAsync(history);
        history.AddRange(first.Messages);
        history.Add(new ChatMessage(ChatRole.User, "And where do you live?"));
        ChatResponse second = await client.GetResponseAsync(history);

        // By hand: one session through both turns. A reply cut by the token limit gets its turn closed first.
        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        (string reply1, GenerationResult r1) = Continue(session, "User: Who are you?\n\nAssistant:", ChatThinking.Off, sampling, 200);
        Assert.Equal(firstReplyEndsItsTurn, r1.StopReason == GenerationStopReason.StopSequence);
        string newTurn = (firstReplyEndsItsTurn ? "" : "\n\n") + "User: And where do you live?\n\nAssistant:";
        (string reply2, _) = Continue(session, newTurn, ChatThinking.Off, sampling, 200);

        Assert.Equal(reply1, first.Text);
        Assert.Equal(reply2, second.Text);
        Assert.Equal(newTurn.Length, second.Usage!.InputTokenCount); // byte model: one token per character
    }

    [Fact]
    public async Task Another_conversation_starts_from_the_zero_state()
    {
        using var client = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        await client.GetResponseAsync([new ChatMessage(ChatRole.User, "First topic.")]);
        ChatResponse other = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Second topic.")]);

        using var fresh = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        ChatResponse expected = await fresh.GetResponseAsync([new ChatMessage(ChatRole.User, "Second topic.")]);
        Assert.Equal(expected.Text, other.Text);
        Assert.Equal("User: Second topic.\n\nAssistant:".Length, other.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task Interleaved_conversations_each_continue_from_their_own_state()
    {
        using var client = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        var a = new List<ChatMessage>();
        var b = new List<ChatMessage>();
        await Say(client, a, "First topic.");
        await Say(client, b, "Second topic.");
        ChatResponse a2 = await Say(client, a, "More on the first.");
        ChatResponse b2 = await Say(client, b, "More on the second.");

        // Each against a client that only ever saw that conversation.
        foreach ((List<ChatMessage> history, ChatResponse got) in new[] { (a, a2), (b, b2) })
        {
            using var alone = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
            var replay = new List<ChatMessage>();
            await Say(alone, replay, history[0].Text);
            ChatResponse expected = await Say(alone, replay, history[2].Text);
            Assert.Equal(expected.Text, got.Text);
            Assert.Equal(expected.Usage!.InputTokenCount, got.Usage!.InputTokenCount);
            Assert.True(got.Usage.InputTokenCount < await FromScratchInputTokens(history[..^1]), "the whole history was read again");
        }
    }

    [Fact]
    public async Task The_least_recently_used_conversation_is_dropped_when_all_are_taken()
    {
        using var client = new RwkvChatClient(Model, ByteTokenizer.Instance, new RwkvChatClientOptions { Sampling = SamplingOptions.Greedy, MaxOutputTokens = MaxTokens, Conversations = 2 });
        var a = new List<ChatMessage>();
        var b = new List<ChatMessage>();
        var c = new List<ChatMessage>();
        await Say(client, a, "Topic A.");
        await Say(client, b, "Topic B.");
        await Say(client, c, "Topic C."); // A, used least recently, is dropped
        ChatResponse a2 = await Say(client, a, "Again A.");  // read from the start; B is dropped
        ChatResponse c2 = await Say(client, c, "Again C.");  // continues

        using var fresh = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        ChatResponse fromScratch = await fresh.GetResponseAsync(a[..^1]);
        Assert.Equal(fromScratch.Text, a2.Text);
        Assert.Equal(fromScratch.Usage!.InputTokenCount, a2.Usage!.InputTokenCount);
        Assert.True(c2.Usage!.InputTokenCount < await FromScratchInputTokens(c[..^1]), "C's history was read again");

        ChatResponse b2 = await Say(client, b, "Again B."); // B was dropped when A came back
        Assert.Equal(await FromScratchInputTokens(b[..^1]), b2.Usage!.InputTokenCount);
    }

    [Fact]
    public void At_least_one_conversation_is_held()
    {
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(
            () => new RwkvChatClient(Model, ByteTokenizer.Instance, new RwkvChatClientOptions { Conversations = 0 }));
        Assert.Contains(nameof(RwkvChatClientOptions.Conversations), e.Message, StringComparison.Ordinal);
    }

    /// <summary>The tokens a new client feeds to answer <paramref name="history"/>: all of it.</summary>
    private static async Task<long?> FromScratchInputTokens(List<ChatMessage> history)
    {
        using var fresh = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        return (await fresh.GetResponseAsync(history)).Usage!.InputTokenCount;
    }

    /// <summary>Adds a user message to <paramref name="history"/>, asks for the reply and adds it too.</summary>
    private static async Task<ChatResponse> Say(RwkvChatClient client, List<ChatMessage> history, string text)
    {
        history.Add(new ChatMessage(ChatRole.User, text));
        ChatResponse response = await client.GetResponseAsync(history);
        history.AddRange(response.Messages);
        return response;
    }

    [Theory]
    [InlineData(ChatThinking.On, "Assistant: <think")]
    [InlineData(ChatThinking.Skip, "Assistant: <think>\n</think")]
    public async Task Thinking_modes_open_the_assistant_turn_as_the_model_card_says(ChatThinking thinking, string assistantPrompt)
    {
        using var client = new RwkvChatClient(Model, ByteTokenizer.Instance, new RwkvChatClientOptions
        {
            Sampling = SamplingOptions.Greedy, MaxOutputTokens = MaxTokens, Thinking = thinking,
        });
        ChatResponse response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Why is the sky blue?")]);

        var session = new RwkvSession(Model, ByteTokenizer.Instance);
        session.Append("User: Why is the sky blue?\n\n" + assistantPrompt);
        string raw = session.Generate(new GenerationOptions { MaxTokens = MaxTokens, StopSequences = ["\n\n"], Sampling = SamplingOptions.Greedy }).Text;
        if (thinking == ChatThinking.On)
        {
            // The tiny model never closes the block it was given, so its whole reply is reasoning and there is no answer.
            Assert.DoesNotContain("</think>", raw, StringComparison.Ordinal);
            string expected = (raw.StartsWith('>') ? raw[1..] : raw).Trim();
            Assert.Equal(expected, Assert.IsType<TextReasoningContent>(response.Messages.Single().Contents[0]).Text);
            Assert.Equal("", response.Text);
        }
        else
        {
            Assert.Equal(new ReplyShaper(thinking).Shape(raw), response.Text);
            Assert.DoesNotContain(response.Messages.Single().Contents, c => c is TextReasoningContent);
        }
    }

    [Fact]
    public async Task Thinking_streams_reasoning_as_reasoning_content_and_a_sent_back_reply_continues_the_state()
    {
        var options = new RwkvChatClientOptions { Sampling = SamplingOptions.Greedy, MaxOutputTokens = MaxTokens, Thinking = ChatThinking.On };
        var history = new List<ChatMessage> { new(ChatRole.User, "Think about the sea.") };
        using var plain = new RwkvChatClient(Model, ByteTokenizer.Instance, options);
        ChatResponse expected = await plain.GetResponseAsync(history);
        string reasoning = string.Concat(expected.Messages.Single().Contents.OfType<TextReasoningContent>().Select(c => c.Text));
        Assert.NotEqual("", reasoning);

        using var streaming = new RwkvChatClient(Model, ByteTokenizer.Instance, options);
        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in streaming.GetStreamingResponseAsync(history))
        {
            updates.Add(update);
        }

        Assert.True(updates.Count(u => u.Contents.Any(c => c is TextReasoningContent)) > 5, "reasoning is streamed as it is written");
        Assert.Equal(reasoning, string.Concat(updates.SelectMany(u => u.Contents).OfType<TextReasoningContent>().Select(c => c.Text)));
        Assert.Equal(expected.Text, string.Concat(updates.Select(u => u.Text)));

        // The reply sent back (its text is the answer only) still matches what the session holds: only the new turn is fed.
        history.AddRange(expected.Messages);
        history.Add(new ChatMessage(ChatRole.User, "And the sky?"));
        ChatResponse second = await plain.GetResponseAsync(history);
        string newTurn = (expected.FinishReason == ChatFinishReason.Length ? "\n\n" : "") + "User: And the sky?\n\nAssistant: <think";
        Assert.Equal(newTurn.Length, second.Usage!.InputTokenCount); // byte model: one token per character
    }

    [Fact]
    public async Task End_of_text_is_banned_in_chat()
    {
        // Make the model's favourite first reply byte play end of text: a plain session stops at once, chat cannot.
        var probe = new RwkvSession(Model, ByteTokenizer.Instance);
        probe.Append("User: Hello\n\nAssistant:");
        int favourite = probe.Generate(new GenerationOptions { MaxTokens = 1, Sampling = SamplingOptions.Greedy }).Tokens[0];
        var tokenizer = new EndOfTextByteTokenizer(favourite);

        var plain = new RwkvSession(Model, tokenizer);
        plain.Append("User: Hello\n\nAssistant:");
        Assert.Equal(GenerationStopReason.StopToken, plain.Generate(new GenerationOptions { Sampling = SamplingOptions.Greedy }).StopReason);

        using var client = new RwkvChatClient(Model, tokenizer, GreedyOptions);
        ChatResponse response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hello")]);
        Assert.Equal(MaxTokens, response.Usage!.OutputTokenCount);
        Assert.DoesNotContain((char)favourite, response.Text);
    }

    [Fact]
    public async Task Request_options_override_the_defaults()
    {
        ChatMessage[] messages = [new ChatMessage(ChatRole.User, "Sing.")];
        async Task<string> Sampled(long seed)
        {
            using var client = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
            ChatResponse r = await client.GetResponseAsync(messages, new ChatOptions { Temperature = 1.2f, TopP = 1f, Seed = seed, MaxOutputTokens = 40 });
            Assert.InRange(r.Usage!.OutputTokenCount!.Value, 1, 40);
            return r.Text;
        }

        Assert.Equal(await Sampled(5), await Sampled(5));
        Assert.NotEqual(await Sampled(5), await Sampled(6));

        using var greedy = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        string free = (await greedy.GetResponseAsync(messages)).Text;
        string stop = free.Substring(4, 2);
        using var stopping = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        ChatResponse cut = await stopping.GetResponseAsync(messages, new ChatOptions { StopSequences = [stop] });
        Assert.Equal(free[..free.IndexOf(stop, StringComparison.Ordinal)], cut.Text);
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => greedy.GetResponseAsync(messages, new ChatOptions { Temperature = -1 }));
    }

    [Fact]
    public async Task Shared_system_prompts_come_from_the_prompt_cache()
    {
        var cache = new PromptCache(Model);
        var options = new RwkvChatClientOptions { Sampling = SamplingOptions.Greedy, MaxOutputTokens = 5, PromptCache = cache };
        using var a = new RwkvChatClient(Model, ByteTokenizer.Instance, options);
        using var b = new RwkvChatClient(Model, ByteTokenizer.Instance, options);
        ChatMessage system = new(ChatRole.System, "You are a patient teacher who explains everything step by step.");

        await a.GetResponseAsync([system, new ChatMessage(ChatRole.User, "What is 2+2?")]);
        Assert.Equal(1, cache.Count);
        ChatResponse fromCache = await b.GetResponseAsync([system, new ChatMessage(ChatRole.User, "What is 3+3?")]);
        Assert.Equal(1, cache.Hits);
        Assert.Equal($"System: {system.Text}\n\nUser: What is 3+3?\n\nAssistant:".Length, fromCache.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task Unsupported_requests_are_refused_clearly()
    {
        using var client = new RwkvChatClient(Model, ByteTokenizer.Instance, GreedyOptions);
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.Tool, "42")]));
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "image/png")])]));
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { ToolMode = ChatToolMode.RequireAny }));
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, "Hi"), new ChatMessage(ChatRole.Assistant, "Hello")]));
    }

    [Fact]
    public void Services_describe_the_client()
    {
        using var client = new RwkvChatClient(Model, ByteTokenizer.Instance, new RwkvChatClientOptions { ModelId = "tiny-834K" });
        ChatClientMetadata metadata = Assert.IsType<ChatClientMetadata>(client.GetService(typeof(ChatClientMetadata)));
        Assert.Equal("tiny-834K", metadata.DefaultModelId);
        Assert.Same(client, client.GetService<IChatClient>());
        Assert.Same(Model, client.GetService(typeof(RwkvModel)));
        Assert.Null(client.GetService(typeof(string)));
        Assert.Null(client.GetService(typeof(IChatClient), serviceKey: "other"));
    }

    /// <summary>Appends <paramref name="text"/> and generates the reply the way the client should.</summary>
    private static (string Reply, GenerationResult Result) Continue(
        RwkvSession session, string text, ChatThinking thinking, SamplingOptions? sampling = null, int maxTokens = MaxTokens)
    {
        session.Append(text);
        GenerationResult result = session.Generate(new GenerationOptions
        {
            MaxTokens = maxTokens, StopSequences = ["\n\n"], Sampling = sampling ?? SamplingOptions.Greedy,
        });
        return (new ReplyShaper(thinking).Shape(result.Text), result);
    }
}
