using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Rwkv7.Gen;
using Rwkv7.Gen.Text;
using Rwkv7.Serving.Http;

namespace Rwkv7.Serving.Benchmarking;

/// <summary>Settings of <see cref="ServeBenchmark"/>.</summary>
/// <param name="Clients">Concurrent streaming clients.</param>
/// <param name="Tokens">Tokens each client asks for.</param>
/// <param name="Rounds">Rounds of all clients at once; medians are reported.</param>
/// <param name="FollowUpTokens">Length of the first chat turn in the follow-up test, in tokens (about).</param>
public sealed record ServeBenchmarkOptions(int Clients = 16, int Tokens = 64, int Rounds = 3, int FollowUpTokens = 1024);

/// <summary>
/// <c>rwkv7 bench-serve</c>: a load test over loopback, bounded in requests and time. In one run: the engine's own
/// batch-of-N decode speed (<c>ForwardBatch</c>, as <c>bench</c> measures it); N concurrent streaming clients against the
/// server (aggregate tokens/s, time to first token p50/p99); every request's text against its text alone; and a
/// second chat turn's time to first token with the state cache against a server without one.
/// </summary>
public static class ServeBenchmark
{
    private const string Completions = "/v1/completions";
    private const string Chat = "/v1/chat/completions";

    public static async Task RunAsync(RwkvModel model, RwkvTokenizer tokenizer, ServeBenchmarkOptions options, TextWriter output)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        output.WriteLine($"cpu          {CpuName()}, {Environment.ProcessorCount} logical processors");
        output.WriteLine($"model        {model.EngineName}, {model.Shape}, {model.Weights.MatrixType?.ToString() ?? "mixed"} weights, {model.Threads} thread(s)");

        double engine = EngineBatchRate(model, options.Clients, options.Tokens, options.Rounds);
        output.WriteLine(string.Format(c, "engine       {0:0.0} tokens/s: ForwardBatch of {1} sessions, median of {2} runs of {3} steps", engine, options.Clients, options.Rounds, options.Tokens));

        var serve = new ServeOptions { Host = "127.0.0.1", Port = 0, AccessLog = false, MaxBatch = Math.Max(options.Clients, ServeOptions.DefaultMaxBatch), MaxQueue = options.Clients * 2 };
        string[] prompts = [.. Enumerable.Range(0, options.Clients).Select(i => $"Request {i}: tell the story of the {Ordinal(i)} lighthouse keeper and the storm that came at night.")];
        var rates = new List<double>();
        var firstTokens = new List<double>();
        var perToken = new List<double>();
        List<Result> lastRound = [];
        await using (ServeHost host = await ServeHost.StartAsync(model, tokenizer, serve, "bench-serve", TextWriter.Null, handleSignals: false).ConfigureAwait(false))
        {
            using HttpClient http = NewClient(host);
            await StreamAsync(http, Completions, CompletionBody(prompts[0], 0, 4)).ConfigureAwait(false); // warm-up
            for (int round = 0; round < options.Rounds; round++)
            {
                long start = Stopwatch.GetTimestamp();
                Result[] results = await Task.WhenAll(prompts.Select((p, i) => StreamAsync(http, Completions, CompletionBody(p, i, options.Tokens)))).ConfigureAwait(false);
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                rates.Add(results.Sum(r => r.CompletionTokens) / seconds);
                firstTokens.AddRange(results.Select(r => r.FirstTokenSeconds));
                perToken.AddRange(results.Where(r => r.CompletionTokens > 1).Select(r => (r.TotalSeconds - r.FirstTokenSeconds) / (r.CompletionTokens - 1)));
                lastRound = [.. results];
            }

            double served = Median(rates);
            output.WriteLine(string.Format(c, "served       {0:0.0} tokens/s aggregate = {1:0.0}% of the engine's batch of {2} ({3} streaming clients x {4} tokens, median of {5} rounds)",
                served, 100 * served / engine, options.Clients, options.Clients, options.Tokens, options.Rounds));
            output.WriteLine(string.Format(c, "first token  p50 {0:0} ms, p99 {1:0} ms over {2} requests (all clients starting at once)",
                1000 * Percentile(firstTokens, 0.50), 1000 * Percentile(firstTokens, 0.99), firstTokens.Count));

            output.WriteLine(string.Format(c, "per token    p50 {0:0.0} ms between tokens of a request (the engine's batch step: {1:0.0} ms)",
                1000 * Median(perToken), 1000 * options.Clients / engine));

            // Each request again, alone: the same seed must give the same text.
            int same = 0;
            for (int i = 0; i < prompts.Length; i++)
            {
                Result alone = await StreamAsync(http, Completions, CompletionBody(prompts[i], i, options.Tokens)).ConfigureAwait(false);
                same += alone.Text == lastRound[i].Text ? 1 : 0;
            }

            output.WriteLine($"invariance   {same} of {prompts.Length} requests gave the same text alone as in the batch");
            (double warm, int prompt, int cached) = await SecondTurnAsync(http, tokenizer, options.FollowUpTokens).ConfigureAwait(false);
            await using ServeHost cold = await ServeHost.StartAsync(model, tokenizer, serve with { StateCacheBytes = 0 }, "bench-serve", TextWriter.Null, handleSignals: false).ConfigureAwait(false);
            using HttpClient coldHttp = NewClient(cold);
            (double coldFirst, _, _) = await SecondTurnAsync(coldHttp, tokenizer, options.FollowUpTokens).ConfigureAwait(false);
            output.WriteLine(string.Format(c, "second turn  first token {0:0} ms with the state cache ({1} of {2} prompt tokens cached) vs {3:0} ms without",
                1000 * warm, cached, prompt, 1000 * coldFirst));
        }
    }

    /// <summary>A first chat turn of about <paramref name="tokens"/> tokens, then a short second one: its time to first token and usage.</summary>
    private static async Task<(double FirstToken, int PromptTokens, int CachedTokens)> SecondTurnAsync(HttpClient http, RwkvTokenizer tokenizer, int tokens)
    {
        var text = new StringBuilder();
        while (tokenizer.EncodeToIdArray(text.ToString()).Length < tokens)
        {
            text.Append("The keeper climbed the stairs again and lit the lamp, counting the ships that passed. ");
        }

        string first = JsonSerializer.Serialize(new ChatTurnBody([new Message("user", text.ToString())], 16, 1, true, new StreamOptions(true)), BenchJsonContext.Default.ChatTurnBody);
        Result reply = await StreamAsync(http, Chat, first).ConfigureAwait(false);
        string second = JsonSerializer.Serialize(
            new ChatTurnBody([new Message("user", text.ToString()), new Message("assistant", reply.Text), new Message("user", "And what happened next?")], 16, 2, true, new StreamOptions(true)),
            BenchJsonContext.Default.ChatTurnBody);
        Result next = await StreamAsync(http, Chat, second).ConfigureAwait(false);
        return (next.FirstTokenSeconds, next.PromptTokens, next.CachedTokens);
    }

    /// <summary>The engine alone: a batch of <paramref name="sessions"/> stepped <paramref name="steps"/> times, median tokens/s of <paramref name="runs"/> runs.</summary>
    private static double EngineBatchRate(RwkvModel model, int sessions, int steps, int runs)
    {
        RwkvState[] states = [.. Enumerable.Range(0, sessions).Select(_ => model.CreateState())];
        int[] tokens = [.. Enumerable.Range(0, sessions).Select(i => (i * 97) % model.Shape.Vocab)];
        float[] logits = new float[sessions * model.Shape.Vocab];
        // One run more than asked, the first not counted: after a single warm-up call this figure came out below what
        // the server then served on the same engine (0.1B q4 weights, one client: 178 against 305 tokens/s), the JIT's
        // unoptimized first code still in the timing (see TieredCompilationTests in the runtime's tests).
        var rates = new List<double>();
        for (int run = -1; run < runs; run++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int s = 0; s < steps; s++)
            {
                model.ForwardBatch(tokens, states, logits);
            }

            if (run >= 0)
            {
                rates.Add((double)sessions * steps / Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        }

        return Median(rates);
    }

    /// <summary>
    /// A seeded streaming completion at temperature 1 without top-p: synthetic weights give nearly flat logits, where
    /// top-p would sort tens of thousands of candidates per token (a real model's peaked distribution keeps a few), and
    /// the load test would time the sampler instead of the server.
    /// </summary>
    private static string CompletionBody(string prompt, int seed, int tokens) =>
        JsonSerializer.Serialize(new CompletionBodyJson(prompt, tokens, seed, 1f, true, new StreamOptions(true)), BenchJsonContext.Default.CompletionBodyJson);

    /// <summary>One streamed request: its text, the time to its first text event, and its usage.</summary>
    private static async Task<Result> StreamAsync(HttpClient http, string path, string body)
    {
        long start = Stopwatch.GetTimestamp();
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync().ConfigureAwait(false));
        var text = new StringBuilder();
        double first = 0;
        int completion = 0, prompt = 0, cached = 0;
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]")
            {
                continue;
            }

            using JsonDocument chunk = JsonDocument.Parse(line["data: ".Length..]);
            JsonElement root = chunk.RootElement;
            if (root.TryGetProperty("error", out JsonElement error))
            {
                throw new InvalidOperationException($"{path} failed: {error.GetProperty("message").GetString()}");
            }

            if (root.TryGetProperty("usage", out JsonElement usage) && usage.ValueKind == JsonValueKind.Object)
            {
                completion = usage.GetProperty("completion_tokens").GetInt32();
                prompt = usage.GetProperty("prompt_tokens").GetInt32();
                cached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
            }

            foreach (JsonElement choice in root.GetProperty("choices").EnumerateArray())
            {
                string? piece = choice.TryGetProperty("text", out JsonElement t) ? t.GetString()
                    : choice.GetProperty("delta").TryGetProperty("content", out JsonElement d) ? d.GetString() : null;
                if (!string.IsNullOrEmpty(piece))
                {
                    first = first == 0 ? Stopwatch.GetElapsedTime(start).TotalSeconds : first;
                    text.Append(piece);
                }
            }
        }

        double total = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new Result(text.ToString(), first == 0 ? total : first, total, completion, prompt, cached);
    }

    private static HttpClient NewClient(ServeHost host) => new()
    {
        BaseAddress = host.Address,
        Timeout = TimeSpan.FromMinutes(10),
        DefaultRequestHeaders = { Accept = { new MediaTypeWithQualityHeaderValue("text/event-stream") } },
    };

    private static string Ordinal(int i) => i switch { 0 => "first", 1 => "second", 2 => "third", _ => (i + 1).ToString(CultureInfo.InvariantCulture) + "th" };

    private static double Median(List<double> values) => Percentile(values, 0.5);

    private static double Percentile(List<double> values, double p)
    {
        List<double> sorted = [.. values.Order()];
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    /// <summary>The processor's model name from <c>/proc/cpuinfo</c> (Linux), else the architecture.</summary>
    public static string CpuName()
    {
        try
        {
            string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null)
            {
                return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    private sealed record Result(string Text, double FirstTokenSeconds, double TotalSeconds, int CompletionTokens, int PromptTokens, int CachedTokens);
}
