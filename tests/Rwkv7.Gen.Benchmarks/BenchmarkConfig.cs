using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Rwkv7.Gen.Benchmarks;

/// <summary>
/// The shared job: in-process (no second build of the project on a busy machine), 3 warmups, 10 measured
/// iterations. Run in Release.
/// </summary>
internal class BenchmarkConfig : ManualConfig
{
    public BenchmarkConfig()
    {
        AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(10));
    }
}
