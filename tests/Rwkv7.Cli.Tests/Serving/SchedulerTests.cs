using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Rwkv7.Cli.Tests.Infrastructure;
using Rwkv7.Gen;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;
using Rwkv7.Serving;

namespace Rwkv7.Cli.Tests.Serving;

/// <summary>Continuous batching as clients see it: results independent of the batch, faults and cancellations confined to their request.</summary>
public sealed class SchedulerTests
{
    private const string Completions = "/v1/completions";

    [Fact]
    public async Task A_seeded_request_gives_the_same_text_alone_and_inside_a_busy_batch()
    {
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { StateCacheBytes = 0 });
        await AssertSameTextAloneAndInABusyBatchAsync(server);
    }

    [Fact]
    public async Task On_4_bit_weights_decode_steps_are_not_padded_and_a_request_still_gets_the_same_text_in_any_batch()
    {
        // The tiny fixture's bf16 kernels: a lone request's steps are padded to a 4-row tile (3 rows a step).
        await using (TestServer padded = await TestServer.StartAsync(new ServeOptions { StateCacheBytes = 0 }))
        {
            await TextAsync(padded, Request("Once upon a time", seed: 123, maxTokens: 10));
            Assert.True(await PaddingRowsAsync(padded) > 0, "a lone request on bf16 kernels should step 4 rows");
        }

        // The same fixture at 4 bits: batch rows equal one-token steps, so nothing is padded, and a seeded request's
        // text is still the same alone and among requests that join and leave (batches of 1 to 7 rows).
        using RwkvModel q4 = RwkvModel.Load(
            Paths.TinyModel, new RwkvModelOptions { Engine = EngineSelection.Generated, Weights = new WeightLoadOptions { MatrixType = TensorDType.Q4 } });
        Assert.True(q4.BatchRowsMatchForward);
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { StateCacheBytes = 0 }, q4);
        await AssertSameTextAloneAndInABusyBatchAsync(server);
        Assert.Equal(0, await PaddingRowsAsync(server));
    }

    [Fact]
    public async Task A_request_whose_state_turns_to_NaN_fails_alone_while_the_batch_goes_on()
    {
        using var poisoned = new PoisonedModel(TestServer.TinyModel, marker: 7, afterSteps: 3);
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { StateCacheBytes = 0 }, poisoned);
        string healthy = Request("Once upon a time", seed: 5, maxTokens: 30);
        string expected = await TextAsync(server, healthy);

        Task<List<string>> failing = server.StreamAsync(Completions, Request("Bell \u0007 rings", seed: 6, maxTokens: 30, stream: true));
        Task<string> other = TextAsync(server, healthy);
        List<string> events = await failing;
        Assert.Equal(expected, await other);

        // The poisoned stream ran a few tokens, then ended with OpenAI's error object and [DONE].
        Assert.Equal("[DONE]", events[^1]);
        JsonElement error = JsonDocument.Parse(events[^2]).RootElement.GetProperty("error");
        Assert.Equal("engine_error", error.GetProperty("code").GetString());
        Assert.Contains("NaN", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.True(events.Count > 2, "the poisoned request should have streamed text before failing");

        // A non-streamed request that fails before any text is a 500 in OpenAI's shape.
        HttpResponseMessage whole = await server.PostAsync(Completions, Request("\u0007", seed: 1, maxTokens: 30));
        await ProtocolTests.AssertErrorAsync(whole, HttpStatusCode.InternalServerError, null, "engine_error");
    }

    [Fact]
    public async Task A_client_that_disconnects_frees_its_slot_at_the_next_step()
    {
        await using TestServer server = await TestServer.StartAsync(new ServeOptions { MaxBatch = 1, MaxCompletionTokens = 1_000_000 });
        using (var request = new HttpRequestMessage(HttpMethod.Post, Completions) { Content = new StringContent(Request("Once", 1, 1_000_000, stream: true)) })
        {
            HttpResponseMessage running = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using Stream body = await running.Content.ReadAsStreamAsync();
            byte[] buffer = new byte[64];
            Assert.True(await body.ReadAsync(buffer) > 0);
            running.Dispose();
        }

        // With the only slot freed, the next request runs to its end.
        Assert.Equal(3, JsonDocument.Parse(await TextBodyAsync(server, Request("Twice", 2, 3))).RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        await ProtocolTests.WaitUntilAsync(() => server.Host.QueueDepth == 0);
        string metrics = await server.Http.GetStringAsync("/metrics");
        Assert.Contains("rwkv7_cancelled_requests_total 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_the_server_ends_open_streams_with_a_whole_final_event()
    {
        TestServer server = await TestServer.StartAsync(new ServeOptions { MaxCompletionTokens = 1_000_000 });
        var request = new HttpRequestMessage(HttpMethod.Post, Completions) { Content = new StringContent(Request("Once", 1, 1_000_000, stream: true)) };
        HttpResponseMessage running = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Task<string> body = running.Content.ReadAsStringAsync();
        await ProtocolTests.WaitUntilAsync(() => server.Host.ActiveRequests == 1);
        await server.DisposeAsync();

        string text = await body.WaitAsync(TestServer.CallTimeout);
        string[] events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.EndsWith("\n\n", text, StringComparison.Ordinal);
        Assert.Equal("data: [DONE]", events[^1]);
        Assert.Equal("server_shutting_down", JsonDocument.Parse(events[^2]["data: ".Length..]).RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    /// <summary>
    /// A seeded request's text alone, then among others that join and leave while it decodes (batches of 1 to 7 rows,
    /// prompts of different lengths prefilled between its steps): the two must be equal.
    /// </summary>
    private static async Task AssertSameTextAloneAndInABusyBatchAsync(TestServer server)
    {
        string probe = Request("Once upon a time", seed: 123, maxTokens: 40);
        string alone = await TextAsync(server, probe);
        var others = Enumerable.Range(0, 6).Select(i => TextAsync(server, Request(new string('x', 1 + (37 * i)) + " The dog", seed: i, maxTokens: 5 + (9 * i)))).ToList();
        Task<string> busy = TextAsync(server, probe);
        await Task.WhenAll([.. others, busy]);
        Assert.Equal(alone, await busy);
    }

    /// <summary>The server's <c>rwkv7_padding_rows_total</c> (0 while nothing was padded: the counter is then not listed).</summary>
    private static async Task<double> PaddingRowsAsync(TestServer server)
    {
        string metrics = await server.Http.GetStringAsync("/metrics");
        Match m = Regex.Match(metrics, @"^rwkv7_padding_rows_total(?:\{[^}]*\})? (\S+)$", RegexOptions.Multiline);
        return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    internal static string Request(string prompt, long seed, int maxTokens, bool stream = false) =>
        JsonSerializer.Serialize(new { prompt, seed, max_tokens = maxTokens, temperature = 1.0, top_p = 0.9, stream });

    private static async Task<string> TextBodyAsync(TestServer server, string request)
    {
        HttpResponseMessage response = await server.PostAsync(Completions, request);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return body;
    }

    private static async Task<string> TextAsync(TestServer server, string request) =>
        JsonDocument.Parse(await TextBodyAsync(server, request)).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;

    /// <summary>
    /// The tiny model with a fault: a session whose prompt held <c>marker</c> has its state and logits turned to NaN
    /// after <c>afterSteps</c> batch steps (or at once, when its prompt was only the marker) — as a broken kernel or
    /// weight would.
    /// </summary>
    private sealed class PoisonedModel(RwkvModel inner, int marker, int afterSteps) : RwkvModel(inner.Weights, ownsWeights: false)
    {
        private readonly Dictionary<RwkvState, int> _marked = new(ReferenceEqualityComparer.Instance);

        public override string EngineName => "poisoned " + inner.EngineName;

        protected override void StepCore(int token, RwkvState state, Span<float> logits) => inner.Forward(token, state, logits);

        protected override void SequenceCore(ReadOnlySpan<int> tokens, RwkvState state, Span<float> logits, bool allRows)
        {
            if (allRows)
            {
                inner.ForwardAll(tokens, state, logits);
            }
            else
            {
                inner.Forward(tokens, state, logits);
            }

            if (tokens.Length == 1 && tokens[0] == marker)
            {
                state.Data.Fill(float.NaN);
                logits.Fill(float.NaN);
            }
            else if (tokens.Contains(marker))
            {
                lock (_marked)
                {
                    _marked[state] = 0;
                }
            }
        }

        protected override void BatchCore(ReadOnlySpan<int> tokens, IReadOnlyList<RwkvState> states, Span<float> logits)
        {
            inner.ForwardBatch(tokens, states, logits);
            int v = Shape.Vocab;
            lock (_marked)
            {
                for (int b = 0; b < states.Count; b++)
                {
                    if (_marked.TryGetValue(states[b], out int steps) && (_marked[states[b]] = steps + 1) >= afterSteps)
                    {
                        _marked.Remove(states[b]);
                        states[b].Data.Fill(float.NaN);
                        logits.Slice(b * v, v).Fill(float.NaN);
                    }
                }
            }
        }
    }
}
