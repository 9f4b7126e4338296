using BenchmarkDotNet.Attributes;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Benchmarks;

/// <summary>
/// One decoded token, generated kernels against the reference engine, on synthetic bf16 weights of the tiny test
/// shape and of the released 0.1B shape, on one thread (the reference engine has only one):
/// <c>dotnet run -c Release --project tests/Rwkv7.Gen.Benchmarks -- --filter *ForwardBenchmarks*</c>.
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class ForwardBenchmarks : IDisposable
{
    private RwkvWeights _weights = null!;
    private RwkvModel _model = null!;
    private RwkvState _state = null!;
    private float[] _logits = [];
    private int _token;

    /// <summary>Shape-file model name.</summary>
    [Params("tiny-7v0-834K", "rwkv7-0.1b")]
    public string Shape { get; set; } = "";

    /// <summary>Engine under test.</summary>
    [Params(EngineSelection.Reference, EngineSelection.Generated)]
    public EngineSelection Engine { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        GeneratedModelInfo info = GeneratedModelRegistry.FindByName(Shape)
            ?? throw new InvalidOperationException($"No generated model named {Shape} in this assembly.");
        _weights = RwkvWeights.CreateSynthetic(info.Shape, TensorDType.BF16);
        _model = RwkvModel.Create(_weights, Engine);
        _model.Threads = 1;
        _state = _model.CreateState();
        _logits = new float[info.Shape.Vocab];
    }

    [Benchmark]
    public float DecodeOneToken()
    {
        _model.Forward(_token, _state, _logits);
        _token = (_token + 1) % _logits.Length;
        return _logits[0];
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _model?.Dispose();
        _weights?.Dispose();
        GC.SuppressFinalize(this);
    }
}
