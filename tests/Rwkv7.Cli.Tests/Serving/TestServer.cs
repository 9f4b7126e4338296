using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Rwkv7.Cli.Tests.Infrastructure;
using Rwkv7.Gen;
using Rwkv7.Gen.Text;
using Rwkv7.Serving;
using Rwkv7.Serving.Http;

namespace Rwkv7.Cli.Tests.Serving;

/// <summary>
/// A server started in-process on a free loopback port (real Kestrel, real sockets) over the tiny byte-level fixture,
/// and an HTTP client for it. Every test gets its own server; disposing stops it.
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    /// <summary>Bounds every call a test makes: a hung server fails the test instead of hanging the run.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(60);

    private readonly ServeHost _host;

    private TestServer(ServeHost host, ServeOptions options, StringWriter log)
    {
        _host = host;
        Options = options;
        Log = log;
        Http = new HttpClient { BaseAddress = host.Address, Timeout = CallTimeout };
        if (options.ApiKey is { } key)
        {
            Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
    }

    public HttpClient Http { get; }

    public ServeOptions Options { get; }

    /// <summary>What the server wrote to standard error (access log, failures).</summary>
    public StringWriter Log { get; }

    public Uri Address => _host.Address;

    /// <summary>The OpenAI endpoint root, <c>http://127.0.0.1:PORT/v1</c>.</summary>
    public Uri V1 => new(_host.Address, "/v1");

    public ServeHost Host => _host;

    /// <summary>The tiny fixture on its generated kernels (the CLI's, which the server runs in the binary).</summary>
    public static RwkvModel TinyModel => TinyGenerated.Value;

    public static RwkvTokenizer ByteTokenizer => Rwkv7.Gen.Text.ByteTokenizer.Instance;

    private static readonly Lazy<RwkvModel> TinyGenerated = new(() =>
    {
        RuntimeHelpers.RunModuleConstructor(typeof(Program).Module.ModuleHandle); // registers the CLI's generated models
        return RwkvModel.Load(Paths.TinyModel, new RwkvModelOptions { Engine = EngineSelection.Generated });
    });

    /// <summary>Starts a server over <paramref name="model"/> (the tiny fixture by default) with <paramref name="options"/> on port 0.</summary>
    public static async Task<TestServer> StartAsync(ServeOptions? options = null, RwkvModel? model = null, RwkvTokenizer? tokenizer = null)
    {
        options = (options ?? new ServeOptions()) with { Host = "127.0.0.1", Port = 0 };
        var log = new StringWriter();
        ServeHost host = await ServeHost.StartAsync(model ?? TinyModel, tokenizer ?? ByteTokenizer, options, "tests", TextWriter.Synchronized(log), handleSignals: false);
        return new TestServer(host, options, log);
    }

    public async Task<HttpResponseMessage> PostAsync(string path, string json) =>
        await Http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    public async Task<(HttpResponseMessage Response, JsonElement Body)> PostJsonAsync(string path, string json)
    {
        HttpResponseMessage response = await PostAsync(path, json);
        string text = await response.Content.ReadAsStringAsync();
        return (response, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Posts a streaming request and returns the <c>data:</c> payloads in order (<c>[DONE]</c> included).</summary>
    public async Task<List<string>> StreamAsync(string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using HttpResponseMessage response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        string body = await response.Content.ReadAsStringAsync();
        Assert.EndsWith("\n\n", body, StringComparison.Ordinal);
        var events = new List<string>();
        foreach (string block in body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.StartsWith("data: ", block, StringComparison.Ordinal);
            events.Add(block["data: ".Length..]);
        }

        return events;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _host.DisposeAsync();
    }
}
