using BenchmarkDotNet.Attributes;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Benchmarks;

/// <summary>
/// The generated engine's three throughputs on synthetic weights of the released 0.1B shape, as <c>rwkv7 bench</c>
/// measures them: one decoded token, a 512-token prefill from the zero state, and one step of 16 sessions decoded
/// together — in bf16 and 8-bit weights, on one and two threads. Times are per token (a prefill's 512, a batch
/// step's 16), with a tokens/s column:
/// <c>dotnet run -c Release --project tests/Rwkv7.Gen.Benchmarks -- --filter *ThroughputBenchmarks*</c>.
/// The bench CLI adds the hardware floors measured in the same run; this suite gives BenchmarkDotNet's statistics.
/// </summary>
[Config(typeof(Config))]
public class ThroughputBenchmarks : IDisposable
{
    private const int PrefillTokens = 512;
    private const int BatchSessions = 16;

    private RwkvWeights _weights = null!;
    private RwkvModel _model = null!;
    private RwkvState _state = null!;
    private RwkvState _prefillState = null!;
    private RwkvState[] _sessions = [];
    private int[] _prompt = [];
    private int[] _batchTokens = [];
    private float[] _logits = [];
    private float[] _batchLogits = [];
    private int _token;

    /// <summary>Weight precision of the packed matrices.</summary>
    [Params(TensorDType.BF16, TensorDType.Q8)]
    public TensorDType Precision { get; set; }

    /// <summary>Threads of the worker pool the model uses.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        GeneratedModelInfo info = GeneratedModelRegistry.FindByName("rwkv7-0.1b")
            ?? throw new InvalidOperationException("No generated model named rwkv7-0.1b in this assembly.");
        ModelShape shape = info.Shape;
        _weights = RwkvWeights.CreateSynthetic(shape, Precision);
        _model = RwkvModel.Create(_weights, EngineSelection.Generated);
        _model.Threads = Threads;
        _state = _model.CreateState();
        _prefillState = _model.CreateState();
        _sessions = Enumerable.Range(0, BatchSessions).Select(_ => _model.CreateState()).ToArray();
        var random = new Random(1234);
        _prompt = Enumerable.Range(0, PrefillTokens).Select(_ => random.Next(shape.Vocab)).ToArray();
        _batchTokens = _prompt[..BatchSessions];
        _logits = new float[shape.Vocab];
        _batchLogits = new float[BatchSessions * shape.Vocab];
    }

    [Benchmark(Description = "decode, 1 token")]
    public float Decode()
    {
        _model.Forward(_token, _state, _logits);
        _token = (_token + 1) % _logits.Length;
        return _logits[0];
    }

    [Benchmark(Description = "prefill, 512 tokens", OperationsPerInvoke = PrefillTokens)]
    public float Prefill()
    {
        _prefillState.Reset();
        _model.Forward(_prompt, _prefillState, _logits);
        return _logits[0];
    }

    [Benchmark(Description = "batch of 16, 1 step", OperationsPerInvoke = BatchSessions)]
    public float Batch()
    {
        _model.ForwardBatch(_batchTokens, _sessions, _batchLogits);
        return _batchLogits[0];
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _model?.Dispose();
        _weights?.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class Config : BenchmarkConfig
    {
        public Config()
        {
            AddColumn(ThroughputColumn.TokensPerSecond());
        }
    }
}
