using System.Net;
using System.Text;
using System.Text.Json;
using Rwkv7.Gen.Chat;
using Rwkv7.Serving;

namespace Rwkv7.Cli.Tests.Serving;

/// <summary>The server's HTTP surface over raw HTTP: routes, OpenAI's error shapes and status codes, the event stream.</summary>
public sealed class ProtocolTests
{
    private const string Chat = "/v1/chat/completions";
    private const string Completions = "/v1/completions";
    private const string Hello = """{"messages":[{"role":"user","content":"Hello"}],"max_tokens":4,"seed":1}""";

    [Fact]
    public async Task Health_and_models_answer_and_an_unknown_model_is_404()
    {
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { ModelId = "tiny" });
        JsonElement health = JsonDocument.Parse(await server.Http.GetStringAsync("/health")).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());

        JsonElement models = JsonDocument.Parse(await server.Http.GetStringAsync("/v1/models")).RootElement;
        Assert.Equal("list", models.GetProperty("object").GetString());
        Assert.Equal("tiny", Assert.Single(models.GetProperty("data").EnumerateArray()).GetProperty("id").GetString());

        HttpResponseMessage other = await server.Http.GetAsync("/v1/models/gpt-4o");
        await AssertErrorAsync(other, HttpStatusCode.NotFound, "model", "model_not_found");

        (HttpResponseMessage r, _) = await server.PostJsonAsync(Chat, """{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}""");
        await AssertErrorAsync(r, HttpStatusCode.NotFound, "model", "model_not_found");
    }

    [Fact]
    public async Task Unknown_paths_are_404_and_wrong_methods_405_in_OpenAIs_error_shape()
    {
        await using TestServer server = await TestServer.StartAsync();
        await AssertErrorAsync(await server.Http.GetAsync("/v1/embeddings"), HttpStatusCode.NotFound, null, "unknown_url");
        await AssertErrorAsync(await server.Http.GetAsync(Chat), HttpStatusCode.MethodNotAllowed, null, "method_not_allowed");
    }

    [Theory]
    [InlineData("{not json", null, "invalid_json")]
    [InlineData("[1,2]", null, "invalid_json")]
    [InlineData("""{"max_tokens":4}""", "messages", "missing_required_parameter")]
    [InlineData("""{"messages":[]}""", "messages", "invalid_value")]
    [InlineData("""{"messages":"hi"}""", "messages", "invalid_type")]
    [InlineData("""{"messages":[{"role":"wizard","content":"hi"}]}""", "messages[0].role", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":5}]}""", "messages[0].content", "invalid_type")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", "messages[0].content[0].type", "unsupported_parameter")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}""", "messages", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}""", "temperature", "invalid_type")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"temperature":3}""", "temperature", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"top_p":1.5}""", "top_p", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}""", "max_tokens", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"max_tokens":2.5}""", "max_tokens", "invalid_type")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":1000000}""", "max_completion_tokens", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"n":2}""", "n", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"stop":5}""", "stop", "invalid_type")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"stop":[""]}""", "stop", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"seed":"x"}""", "seed", "invalid_type")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"stream":"yes"}""", "stream", "invalid_type")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}""", "stream_options", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"logprobs":true}""", "logprobs", "unsupported_parameter")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}""", "tools", "unsupported_parameter")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}""", "response_format", "unsupported_parameter")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"reasoning_effort":"extreme"}""", "reasoning_effort", "invalid_value")]
    public async Task Bad_chat_requests_are_400_naming_the_field(string body, string? param, string code)
    {
        await using TestServer server = await TestServer.StartAsync();
        await AssertErrorAsync(await server.PostAsync(Chat, body), HttpStatusCode.BadRequest, param, code);
    }

    [Theory]
    [InlineData("""{"max_tokens":4}""", "prompt", "missing_required_parameter")]
    [InlineData("""{"prompt":""}""", "prompt", "invalid_value")]
    [InlineData("""{"prompt":["a","b"]}""", "prompt", "invalid_value")]
    [InlineData("""{"prompt":[1,999]}""", "prompt", "invalid_value")]
    [InlineData("""{"prompt":{"text":"a"}}""", "prompt", "invalid_type")]
    [InlineData("""{"prompt":"a","echo":true}""", "echo", "unsupported_parameter")]
    [InlineData("""{"prompt":"a","best_of":3}""", "best_of", "invalid_value")]
    [InlineData("""{"prompt":"a","suffix":"z"}""", "suffix", "unsupported_parameter")]
    public async Task Bad_completion_requests_are_400_naming_the_field(string body, string? param, string code)
    {
        await using TestServer server = await TestServer.StartAsync();
        await AssertErrorAsync(await server.PostAsync(Completions, body), HttpStatusCode.BadRequest, param, code);
    }

    [Fact]
    public async Task A_prompt_over_the_cap_is_400_context_length_exceeded()
    {
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { MaxPromptTokens = 16 });
        string body = JsonSerializer.Serialize(new { prompt = new string('a', 17) });
        await AssertErrorAsync(await server.PostAsync(Completions, body), HttpStatusCode.BadRequest, "messages", "context_length_exceeded");
        Assert.Equal(HttpStatusCode.OK, (await server.PostAsync(Completions, JsonSerializer.Serialize(new { prompt = new string('a', 16), max_tokens = 1 }))).StatusCode);
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413()
    {
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { MaxRequestBytes = 4096 });
        string body = JsonSerializer.Serialize(new { prompt = new string('a', 5000) });
        await AssertErrorAsync(await server.PostAsync(Completions, body), HttpStatusCode.RequestEntityTooLarge, null, "request_too_large");

        // Without a Content-Length (chunked), the limit holds while reading.
        using var chunked = new HttpRequestMessage(HttpMethod.Post, Completions) { Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(body))) };
        chunked.Headers.TransferEncodingChunked = true;
        await AssertErrorAsync(await server.Http.SendAsync(chunked), HttpStatusCode.RequestEntityTooLarge, null, "request_too_large");
    }

    [Fact]
    public async Task An_api_key_is_required_on_v1_but_not_on_health()
    {
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { ApiKey = "sesame" });
        using var anonymous = new HttpClient { BaseAddress = server.Address, Timeout = TestServer.CallTimeout };
        await AssertErrorAsync(await anonymous.GetAsync("/v1/models"), HttpStatusCode.Unauthorized, null, "invalid_api_key");
        await AssertErrorAsync(await anonymous.GetAsync("/metrics"), HttpStatusCode.Unauthorized, null, "invalid_api_key");
        anonymous.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "sesame!");
        await AssertErrorAsync(await anonymous.PostAsync(Chat, new StringContent(Hello)), HttpStatusCode.Unauthorized, null, "invalid_api_key");
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.PostAsync(Chat, Hello)).StatusCode);
    }

    [Fact]
    public async Task A_full_queue_is_429_with_retry_after()
    {
        // One slot and one queue place: a long request holds the slot, a second waits, a third is refused.
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { MaxBatch = 1, MaxQueue = 1, MaxCompletionTokens = 100_000 });
        string longRun = """{"prompt":"Once","max_tokens":100000,"stream":true}""";
        using var first = new HttpRequestMessage(HttpMethod.Post, Completions) { Content = new StringContent(longRun) };
        using HttpResponseMessage running = await server.Http.SendAsync(first, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, running.StatusCode); // headers come with the first token: it holds the slot
        using var second = new HttpRequestMessage(HttpMethod.Post, Completions) { Content = new StringContent(longRun) };
        Task<HttpResponseMessage> waiting = server.Http.SendAsync(second, HttpCompletionOption.ResponseHeadersRead);
        await WaitUntilAsync(() => server.Host.QueueDepth == 1);

        HttpResponseMessage refused = await server.PostAsync(Completions, """{"prompt":"x","max_tokens":1}""");
        await AssertErrorAsync(refused, HttpStatusCode.TooManyRequests, null, "rate_limit_exceeded");
        Assert.NotNull(refused.Headers.RetryAfter);

        running.Dispose(); // the client leaves: the slot frees and the waiting request runs
        using HttpResponseMessage admitted = await waiting.WaitAsync(TestServer.CallTimeout);
        Assert.Equal(HttpStatusCode.OK, admitted.StatusCode);
    }

    [Fact]
    public async Task A_streamed_chat_sends_role_text_finish_usage_and_done()
    {
        await using TestServer server = await TestServer.StartAsync();
        List<string> events = await server.StreamAsync(Chat,
            """{"messages":[{"role":"user","content":"Hello"}],"max_tokens":6,"seed":5,"stream":true,"stream_options":{"include_usage":true}}""");
        Assert.Equal("[DONE]", events[^1]);
        JsonElement[] chunks = [.. events[..^1].Select(e => JsonDocument.Parse(e).RootElement)];
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        JsonElement finish = chunks[^2].GetProperty("choices")[0];
        Assert.Contains(finish.GetProperty("finish_reason").GetString(), new[] { "stop", "length" });
        JsonElement usage = chunks[^1].GetProperty("usage");
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        string prompt = G1ChatFormat.Turn(G1ChatFormat.UserRole, "Hello") + G1ChatFormat.AssistantPrompt(ChatThinking.Off);
        Assert.Equal(Encoding.UTF8.GetByteCount(prompt), usage.GetProperty("prompt_tokens").GetInt32());
        Assert.InRange(usage.GetProperty("completion_tokens").GetInt32(), 1, 6);

        // The streamed text is the whole response's text for the same seed.
        string streamed = string.Concat(chunks.Select(c => c.GetProperty("choices") is { ValueKind: JsonValueKind.Array } a && a.GetArrayLength() > 0
            && a[0].GetProperty("delta").TryGetProperty("content", out JsonElement t) ? t.GetString() : ""));
        (HttpResponseMessage r, JsonElement whole) = await server.PostJsonAsync(Chat, """{"messages":[{"role":"user","content":"Hello"}],"max_tokens":6,"seed":5}""");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(streamed, whole.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task A_greedy_completion_is_the_models_greedy_continuation()
    {
        await using TestServer server = await TestServer.StartAsync();
        (HttpResponseMessage r, JsonElement body) = await server.PostJsonAsync(Completions,
            """{"prompt":"Once upon a time","max_tokens":24,"temperature":0,"presence_penalty":0,"frequency_penalty":0}""");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        JsonElement choice = body.GetProperty("choices")[0];
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.Equal(Infrastructure.TinyModel.GreedyContinuation("Once upon a time", 24), choice.GetProperty("text").GetString());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(16, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(24, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task A_stop_sequence_ends_the_text_before_it_with_finish_reason_stop()
    {
        await using TestServer server = await TestServer.StartAsync();
        string greedy = Infrastructure.TinyModel.GreedyContinuation("Once upon a time", 24);
        string stop = greedy.Substring(6, 3);
        string body = JsonSerializer.Serialize(new { prompt = "Once upon a time", max_tokens = 24, temperature = 0, presence_penalty = 0, frequency_penalty = 0, stop });
        (_, JsonElement r) = await server.PostJsonAsync(Completions, body);
        JsonElement choice = r.GetProperty("choices")[0];
        Assert.Equal(greedy[..greedy.IndexOf(stop, StringComparison.Ordinal)], choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Thinking_comes_back_as_reasoning_content_never_in_content()
    {
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { Thinking = ChatThinking.On });
        (HttpResponseMessage r, JsonElement body) = await server.PostJsonAsync(Chat, """{"messages":[{"role":"user","content":"Why?"}],"max_tokens":12,"seed":3}""");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        JsonElement message = body.GetProperty("choices")[0].GetProperty("message");
        string reasoning = message.GetProperty("reasoning_content").GetString()!;
        string content = message.GetProperty("content").GetString()!;
        Assert.DoesNotContain("<think", content, StringComparison.Ordinal);
        Assert.DoesNotContain("</think>", reasoning, StringComparison.Ordinal);
        Assert.True(reasoning.Length + content.Length > 0, "the reply should hold reasoning or an answer");

        // reasoning_effort "none" turns thinking off for one request: no reasoning field at all.
        (_, JsonElement plain) = await server.PostJsonAsync(Chat, """{"messages":[{"role":"user","content":"Why?"}],"max_tokens":4,"reasoning_effort":"none"}""");
        Assert.False(plain.GetProperty("choices")[0].GetProperty("message").TryGetProperty("reasoning_content", out _));
    }

    [Fact]
    public async Task Metrics_are_prometheus_text_with_requests_tokens_and_latencies()
    {
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { StateCacheBytes = 0 });
        Assert.Equal(HttpStatusCode.OK, (await server.PostAsync(Completions, """{"prompt":"abc","max_tokens":3,"temperature":0}""")).StatusCode);
        await server.PostAsync(Completions, "{");
        HttpResponseMessage metrics = await server.Http.GetAsync("/metrics");
        Assert.StartsWith("text/plain", metrics.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        string text = await metrics.Content.ReadAsStringAsync();
        Assert.Contains("rwkv7_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("rwkv7_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("rwkv7_prompt_tokens_total 3\n", text, StringComparison.Ordinal);
        Assert.Contains("rwkv7_completion_tokens_total 3\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE rwkv7_time_to_first_token_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("rwkv7_time_to_first_token_seconds_count 1\n", text, StringComparison.Ordinal);
        // Two decode steps: the first token is drawn from the prefill's logits, the second and third from a step each.
        Assert.Contains("rwkv7_decode_step_seconds_bucket{le=\"+Inf\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("rwkv7_queue_depth 0\n", text, StringComparison.Ordinal);
        Assert.Contains("rwkv7_active_requests 0\n", text, StringComparison.Ordinal);

        // One access-log line per request, on standard error.
        string[] lines = server.Log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.Contains("\"POST /v1/completions\" 200", StringComparison.Ordinal) && l.Contains("prompt=3 cached=0 completion=3 finish=length", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("\"POST /v1/completions\" 400", StringComparison.Ordinal));
    }

    /// <summary>Asserts OpenAI's error shape: status, <c>error.type</c>, <c>param</c> and <c>code</c>, a message, no stack trace.</summary>
    internal static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string? param, string code)
    {
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        JsonElement error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("type").GetString()));
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
    }

    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestServer.CallTimeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the server");
            await Task.Delay(10);
        }
    }
}
