using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Weights;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Rwkv7.Gen.Gpu.Tests.Support;

/// <summary>
/// One ILGPU CPU accelerator for the whole test run, and the GPU models built on it (kernel compilation happens once
/// per model and weight format). The CPU device is sized for the kernels' largest group: 64 threads (the WKV kernel's).
/// </summary>
public sealed class CpuAcceleratorFixture : IDisposable
{
    private readonly Dictionary<string, (RwkvWeights Weights, GpuRwkvModel Model)> _models = [];

    public CpuAcceleratorFixture()
    {
        Context = Context.Create(builder => builder.CPU(new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 2, numMultiprocessors: 1)));
        Accelerator = Context.CreateCPUAccelerator(0);
    }

    public Context Context { get; }

    public Accelerator Accelerator { get; }

    /// <summary>The GPU model of a fixture file, built once per (file, key); <paramref name="options"/> apply on first use.</summary>
    public GpuRwkvModel Model(string file, GpuModelOptions? options = null, string key = "")
    {
        string id = file + "|" + key;
        if (!_models.TryGetValue(id, out var entry))
        {
            RwkvWeights weights = RwkvWeights.Load(Fixtures.Path(file));
            entry = (weights, GpuRwkvModel.Create(weights, Accelerator, options));
            _models[id] = entry;
        }

        return entry.Model;
    }

    /// <summary>The packed weights behind <see cref="Model"/> (for CPU engines on the same weights).</summary>
    public RwkvWeights Weights(string file, string key = "") => _models[file + "|" + key].Weights;

    public void Dispose()
    {
        foreach ((RwkvWeights weights, GpuRwkvModel model) in _models.Values)
        {
            model.Dispose();
            weights.Dispose();
        }

        Accelerator.Dispose();
        Context.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class GpuCollection : ICollectionFixture<CpuAcceleratorFixture>
{
    public const string Name = "ILGPU CPU accelerator";
}
