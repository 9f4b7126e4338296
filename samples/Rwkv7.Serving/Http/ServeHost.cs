using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rwkv7.Serving.Engine;
using Rwkv7.Serving.Metrics;
using Rwkv7.Gen;
using Rwkv7.Gen.Text;

namespace Rwkv7.Serving.Http;

/// <summary>
/// The running server: Kestrel with minimal-API routes over one <see cref="BatchScheduler"/>. Routes: <c>GET /health</c>,
/// <c>GET /v1/models</c>, <c>GET /v1/models/{id}</c>, <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c>,
/// <c>GET /metrics</c>; anything else is OpenAI's 404 error.
/// </summary>
/// <remarks>
/// Stopping (Ctrl-C, SIGTERM or <see cref="DisposeAsync"/>): the scheduler fails every queued and running request with
/// "shutting down" first, so each open stream ends with a whole error event and <c>[DONE]</c>, then Kestrel closes.
/// </remarks>
public sealed class ServeHost : IAsyncDisposable
{
    /// <summary>How long Kestrel waits for answered requests to finish writing when stopping.</summary>
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Every fixed route: a request to one of them with the wrong method is a 405, not a 404.</summary>
    private static readonly HashSet<string> Routes = new(StringComparer.Ordinal)
    {
        "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions",
    };

    private readonly WebApplication _app;
    private readonly BatchScheduler _scheduler;
    private readonly StateStore? _store;
    private readonly ServeMetrics _metrics;
    private readonly PrometheusExporter _exporter;

    private ServeHost(WebApplication app, BatchScheduler scheduler, StateStore? store, ServeMetrics metrics, PrometheusExporter exporter, StateCache? cache)
    {
        _app = app;
        _scheduler = scheduler;
        _store = store;
        _metrics = metrics;
        _exporter = exporter;
        Cache = cache;
    }

    /// <summary>Where the server listens, e.g. <c>http://127.0.0.1:8080</c>.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>Requests waiting for a batch slot.</summary>
    public int QueueDepth => _scheduler.QueueDepth;

    /// <summary>Requests holding a batch slot.</summary>
    public int ActiveRequests => _scheduler.ActiveCount;

    /// <summary>The state cache, or null when it is off.</summary>
    internal StateCache? Cache { get; }

    /// <summary>Builds and starts the server.</summary>
    /// <param name="model">The model (not owned).</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    /// <param name="options">Settings.</param>
    /// <param name="fingerprint">Names the weights, for the state files (<see cref="StateStore"/>).</param>
    /// <param name="log">Standard error: access log and failures.</param>
    /// <param name="handleSignals">Stop on Ctrl-C and SIGTERM (the CLI); tests stop the server themselves.</param>
    public static async Task<ServeHost> StartAsync(
        RwkvModel model, RwkvTokenizer tokenizer, ServeOptions options, string fingerprint, TextWriter log, bool handleSignals)
    {
        var metrics = new ServeMetrics();
        var exporter = new PrometheusExporter(metrics.Meter);
        StateStore? store = options.StateDirectory is { } directory && options.StateCacheBytes > 0
            ? new StateStore(directory, fingerprint, model.Shape, log)
            : null;
        StateCache? cache = options.StateCacheBytes > 0 ? new StateCache(options.StateCacheBytes, store) : null;
        var scheduler = new BatchScheduler(model, tokenizer, options, cache, metrics);
        metrics.Observe(() => scheduler.QueueDepth, () => scheduler.ActiveCount, () => cache?.Bytes ?? 0, () => cache?.Count ?? 0);

        WebApplication app = Build(options, handleSignals);
        var host = new ServeHost(app, scheduler, store, metrics, exporter, cache);
        var server = new ServeContext(options, tokenizer, model.Shape.Vocab, scheduler, metrics);
        Configure(app, server, exporter, log);
        app.Lifetime.ApplicationStopping.Register(scheduler.Stop);
        await app.StartAsync().ConfigureAwait(false);
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        host.Address = new Uri(address);
        return host;
    }

    /// <summary>Completes when the server was asked to stop (Ctrl-C, SIGTERM, <see cref="RequestStop"/>).</summary>
    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    /// <summary>Asks the server to stop, as SIGTERM does.</summary>
    public void RequestStop() => _app.Lifetime.StopApplication();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        _scheduler.Dispose();
        _store?.Dispose();
        _exporter.Dispose();
        _metrics.Dispose();
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private static WebApplication Build(ServeOptions options, bool handleSignals)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });

        // Only the command line configures the server: no appsettings.json or ASPNETCORE_URLS from the folder it runs in.
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        if (handleSignals)
        {
            builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        }
        else
        {
            builder.Services.AddSingleton<IHostLifetime, NoSignalLifetime>();
        }

        IPAddress address = options.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(options.Host);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBytes + RequestBody.DrainBytes;
            kestrel.Listen(address, options.Port);
        });
        return builder.Build();
    }

    private static void Configure(WebApplication app, ServeContext server, PrometheusExporter exporter, TextWriter log)
    {
        var accessLog = new AccessLog(log, server.Metrics, server.Options.AccessLog);
        ApiKeyCheck? keys = server.Options.ApiKey is { } key ? new ApiKeyCheck(key) : null;
        app.Use(accessLog.InvokeAsync);
        app.Use(async (http, next) =>
        {
            try
            {
                keys?.CheckUnlessOpen(http.Request);
                await next(http).ConfigureAwait(false);
            }
            catch (ApiException e)
            {
                await ErrorResponse.WriteAsync(http, e).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !http.RequestAborted.IsCancellationRequested)
            {
                log.WriteLine($"rwkv7 serve: internal error ({e.GetType().Name}) on {http.Request.Method} {http.Request.Path}: {e.Message}");
                await ErrorResponse.WriteAsync(http, new ApiException(StatusCodes.Status500InternalServerError, "Internal server error.", "server_error")).ConfigureAwait(false);
            }
        });

        string modelId = server.Options.ModelId;
        var card = new ModelCard(modelId, "model", 0, "rwkv7");
        app.MapGet("/health", new RequestDelegate(http => http.Response.WriteAsJsonAsync(
            new HealthBody("ok", modelId, server.Scheduler.QueueDepth, server.Scheduler.ActiveCount), ApiJsonContext.Default.HealthBody)));
        app.MapGet("/v1/models", new RequestDelegate(http => http.Response.WriteAsJsonAsync(new ModelList("list", [card]), ApiJsonContext.Default.ModelList)));
        app.MapGet("/v1/models/{id}", new RequestDelegate(http =>
        {
            string id = http.Request.RouteValues["id"] as string ?? "";
            return id == modelId
                ? http.Response.WriteAsJsonAsync(card, ApiJsonContext.Default.ModelCard)
                : throw ApiException.ModelNotFound(id, modelId);
        }));
        app.MapPost("/v1/chat/completions", new RequestDelegate(http => ChatEndpoint.HandleAsync(http, server)));
        app.MapPost("/v1/completions", new RequestDelegate(http => CompletionEndpoint.HandleAsync(http, server)));
        app.MapGet("/metrics", new RequestDelegate(async http =>
        {
            http.Response.ContentType = PrometheusExporter.ContentType;
            await http.Response.WriteAsync(exporter.Render()).ConfigureAwait(false);
        }));
        app.MapFallback(new RequestDelegate(http => throw (Routes.Contains(http.Request.Path.Value ?? "")
            ? ApiException.MethodNotAllowed(http.Request.Method, http.Request.Path)
            : ApiException.UnknownPath(http.Request.Method, http.Request.Path))));
    }

    /// <summary>A lifetime that leaves signals alone: in tests the process is not the server's.</summary>
    private sealed class NoSignalLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
