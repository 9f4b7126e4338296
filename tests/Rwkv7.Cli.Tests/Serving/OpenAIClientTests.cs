using System.ClientModel;
using System.Text;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using Rwkv7.Gen.Chat;
using Rwkv7.Serving;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AIChatRole = Microsoft.Extensions.AI.ChatRole;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using OpenAIChatMessage = OpenAI.Chat.ChatMessage;

// ChatCompletionOptions.Seed is marked experimental by the package; the server honours it, and these tests depend on it.
#pragma warning disable OPENAI001

namespace Rwkv7.Cli.Tests.Serving;

/// <summary>Clients nobody here wrote, against the server over loopback: the official OpenAI .NET package and Microsoft.Extensions.AI's IChatClient over it.</summary>
public sealed class OpenAIClientTests
{
    private const string Key = "test-key";
    private const string ModelId = "tiny";

    private static ServeOptions Options => new() { ApiKey = Key, ModelId = ModelId };

    private static ChatClient ChatClientFor(TestServer server, string key = Key, string model = ModelId) =>
        new(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = server.V1, NetworkTimeout = TestServer.CallTimeout });

    [Fact]
    public async Task The_OpenAI_package_completes_a_chat_with_usage_counted_in_prompt_tokens()
    {
        await using TestServer server = await TestServer.StartAsync(Options);
        ChatClient client = ChatClientFor(server);
        ChatCompletion completion = await client.CompleteChatAsync(
            [new SystemChatMessage("Be brief."), new UserChatMessage("Tell me a story.")],
            new ChatCompletionOptions { MaxOutputTokenCount = 8, Seed = 11, Temperature = 0.7f });

        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal(ModelId, completion.Model);
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
        string prompt = G1ChatFormat.Turn("System", "Be brief.") + G1ChatFormat.Turn("User", "Tell me a story.") + "Assistant:";
        Assert.Equal(Encoding.UTF8.GetByteCount(prompt), completion.Usage.InputTokenCount);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 8);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task Streaming_through_the_OpenAI_package_gives_the_same_text_as_a_whole_reply()
    {
        await using TestServer server = await TestServer.StartAsync(Options);
        ChatClient client = ChatClientFor(server);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 20, Seed = 42 };
        OpenAIChatMessage[] messages = [new UserChatMessage("Once upon a time")];

        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (StreamingChatCompletionUpdate update in client.CompleteChatStreamingAsync(messages, options))
        {
            foreach (ChatMessageContentPart part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        ChatCompletion whole = await client.CompleteChatAsync(messages, options);
        Assert.Equal(whole.Content.Count == 0 ? "" : whole.Content[0].Text, streamed.ToString());
        Assert.Equal(whole.FinishReason, finish);
        Assert.NotNull(usage); // the package asks for stream_options.include_usage
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
    }

    [Fact]
    public async Task The_OpenAI_package_sees_401_and_404_as_client_errors()
    {
        await using TestServer server = await TestServer.StartAsync(Options);
        ClientResultException wrongKey = await Assert.ThrowsAsync<ClientResultException>(
            () => ChatClientFor(server, key: "nope").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(401, wrongKey.Status);
        Assert.Contains("Incorrect API key", wrongKey.Message, StringComparison.Ordinal);

        ClientResultException unknownModel = await Assert.ThrowsAsync<ClientResultException>(
            () => ChatClientFor(server, model: "gpt-4o").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, unknownModel.Status);

        ClientResultException badValue = await Assert.ThrowsAsync<ClientResultException>(
            () => ChatClientFor(server).CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { Temperature = 9 }));
        Assert.Equal(400, badValue.Status);
        Assert.Contains("temperature", badValue.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_OpenAI_package_lists_the_model()
    {
        await using TestServer server = await TestServer.StartAsync(Options);
        var models = new OpenAI.Models.OpenAIModelClient(new ApiKeyCredential(Key), new OpenAIClientOptions { Endpoint = server.V1 });
        OpenAI.Models.OpenAIModelCollection list = await models.GetModelsAsync();
        Assert.Equal(ModelId, Assert.Single(list).Id);
    }

    [Fact]
    public async Task Microsoft_Extensions_AI_IChatClient_over_the_OpenAI_package_chats_and_streams()
    {
        await using TestServer server = await TestServer.StartAsync(Options);
        IChatClient chat = ChatClientFor(server).AsIChatClient();
        var options = new ChatOptions { MaxOutputTokens = 12, Seed = 9, Temperature = 0.8f };
        List<AIChatMessage> messages = [new(AIChatRole.System, "You are terse."), new(AIChatRole.User, "Hello!")];

        ChatResponse response = await chat.GetResponseAsync(messages, options);
        Assert.Equal(AIChatRole.Assistant, response.Messages[^1].Role);
        Assert.NotNull(response.Usage);
        Assert.InRange(response.Usage.OutputTokenCount ?? 0, 1, 12);

        var streamed = new StringBuilder();
        await foreach (ChatResponseUpdate update in chat.GetStreamingResponseAsync(messages, options))
        {
            streamed.Append(update.Text);
        }

        Assert.Equal(response.Text, streamed.ToString());

        // The conversation goes on: the reply sent back with one more message.
        messages.AddRange(response.Messages);
        messages.Add(new AIChatMessage(AIChatRole.User, "And then?"));
        ChatResponse next = await chat.GetResponseAsync(messages, options);
        Assert.True(next.Usage!.InputTokenCount > response.Usage.InputTokenCount);
    }
}
