using System.Text;
using System.Text.Json;
using Rwkv7.Cli.Tests.Infrastructure;
using Rwkv7.Gen.Chat;
using Rwkv7.Serving;

namespace Rwkv7.Cli.Tests.Serving;

/// <summary>The state cache: follow-up turns prefill only what is new; a restart with <c>--state-dir</c> keeps the states.</summary>
public sealed class StateCacheTests
{
    private const string Chat = "/v1/chat/completions";

    [Fact]
    public async Task A_follow_up_chat_turn_prefills_only_the_new_message()
    {
        await using TestServer server = await TestServer.StartAsync();
        JsonElement first = await ChatAsync(server, [("user", "Tell me about the sea.")]);
        string answer = first.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        Assert.Equal(0, CachedTokens(first));

        JsonElement second = await ChatAsync(server, [("user", "Tell me about the sea."), ("assistant", answer), ("user", "And the sky?")]);
        string before = G1ChatFormat.Turn("User", "Tell me about the sea.") + G1ChatFormat.Turn("Assistant", answer);
        string added = G1ChatFormat.Turn("User", "And the sky?") + G1ChatFormat.AssistantPrompt(ChatThinking.Off);
        JsonElement usage = second.GetProperty("usage");
        Assert.Equal(Encoding.UTF8.GetByteCount(before + added), usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(Encoding.UTF8.GetByteCount(before), CachedTokens(second)); // only the new turn was prefilled

        string metrics = await server.Http.GetStringAsync("/metrics");
        int prefilled = Encoding.UTF8.GetByteCount(G1ChatFormat.Turn("User", "Tell me about the sea.") + "Assistant:") + Encoding.UTF8.GetByteCount(added);
        Assert.Contains($"rwkv7_prefill_tokens_total {prefilled}\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_repeated_prompt_is_not_prefilled_again_and_gives_the_same_seeded_text()
    {
        await using TestServer server = await TestServer.StartAsync();
        JsonElement a = await ChatAsync(server, [("system", "You are a poet."), ("user", "Write a line.")]);
        JsonElement b = await ChatAsync(server, [("system", "You are a poet."), ("user", "Write a line.")]);
        Assert.Equal(a.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), CachedTokens(b));
        Assert.Equal(Text(a), Text(b));
    }

    [Fact]
    public async Task Cached_states_written_to_a_folder_survive_a_restart()
    {
        using var folder = new TempFolder();
        var options = new ServeOptions { StateDirectory = folder.FullPath };
        JsonElement first;
        await using (TestServer server = await TestServer.StartAsync(options))
        {
            first = await ChatAsync(server, [("user", "Remember me.")]);
        }

        Assert.NotEmpty(Directory.GetFiles(folder.FullPath, "*.state"));
        Assert.Equal(Directory.GetFiles(folder.FullPath, "*.state").Length, Directory.GetFiles(folder.FullPath, "*.key").Length);
        await using (TestServer restarted = await TestServer.StartAsync(options))
        {
            JsonElement again = await ChatAsync(restarted, [("user", "Remember me.")]);
            Assert.Equal(first.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), CachedTokens(again));
            Assert.Equal(Text(first), Text(again));
        }
    }

    [Fact]
    public async Task The_cache_keeps_to_its_byte_budget()
    {
        // Room for two tiny-model entries (one state is 12 x (2 x 64 + 64 x 64) floats, about 200 KiB).
        long entry = sizeof(float) * ((12L * ((2 * 64) + (64 * 64))) + 256 + 64);
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { StateCacheBytes = 2 * entry });
        for (int i = 0; i < 4; i++)
        {
            await ChatAsync(server, [("user", $"Message number {i}.")]);
        }

        Assert.InRange(server.Host.Cache!.Count, 1, 2);
        Assert.True(server.Host.Cache.Bytes <= 2 * entry);
    }

    private static async Task<JsonElement> ChatAsync(TestServer server, (string Role, string Content)[] messages)
    {
        string body = JsonSerializer.Serialize(new
        {
            messages = messages.Select(m => new { role = m.Role, content = m.Content }),
            max_tokens = 12,
            seed = 77,
        });
        (HttpResponseMessage response, JsonElement json) = await server.PostJsonAsync(Chat, body);
        Assert.True(response.IsSuccessStatusCode, json.ToString());
        return json;
    }

    private static int CachedTokens(JsonElement response) =>
        response.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();

    private static string Text(JsonElement response) =>
        response.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
}
