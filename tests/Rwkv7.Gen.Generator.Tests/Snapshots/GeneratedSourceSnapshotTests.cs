using Rwkv7.Gen.Generator.Tests.Infrastructure;

namespace Rwkv7.Gen.Generator.Tests.Snapshots;

/// <summary>
/// The generated source, compared line by line with the accepted files beside this one
/// (<c>GeneratedSourceSnapshotTests.*.verified.cs</c>). A change to the emitter shows up here as a failing test
/// with a received file; accept it on purpose as <see cref="Snapshot"/> describes, and review the diff.
/// </summary>
public class GeneratedSourceSnapshotTests
{
    /// <summary>The hint names of the snapshot tests' outputs.</summary>
    internal const string TinyHintName = "Rwkv7.Gen.Tests.Generated.TinyModel.g.cs";

    internal const string Released01BHintName = "Rwkv7.Gen.Models.Rwkv7_0_1b.g.cs";

    [Fact]
    public void Tiny() =>
        Snapshot.Verify(Generate("tiny", TinyHintName), nameof(GeneratedSourceSnapshotTests));

    [Fact]
    public void Rwkv7_0_1B() =>
        Snapshot.Verify(Generate("0.1B", Released01BHintName), nameof(GeneratedSourceSnapshotTests));

    /// <summary>The ILGPU kernels, emitted when the project references the GPU assembly.</summary>
    [Fact]
    public void TinyGpu() =>
        Snapshot.Verify(GenerateGpu("tiny", TinyHintName), nameof(GeneratedSourceSnapshotTests));

    [Fact]
    public void Rwkv7_0_1BGpu() =>
        Snapshot.Verify(GenerateGpu("0.1B", Released01BHintName), nameof(GeneratedSourceSnapshotTests));

    internal static string Generate(string shape, string hintName)
    {
        GeneratorRun run = GeneratorHarness.Run(ShapeCases.File(shape));
        Assert.Empty(run.Diagnostics);
        return run.Source(hintName);
    }

    private static string GenerateGpu(string shape, string hintName)
    {
        GeneratorRun run = GeneratorHarness.Run(
            GeneratorHarness.CreateDriver(ShapeCases.File(shape)), GeneratorHarness.CreateCompilation().AddReferences(GeneratorHarness.GpuAssemblyStandIn));
        Assert.Empty(run.Diagnostics);
        return run.Source(hintName.Replace(".g.cs", ".Gpu.g.cs", StringComparison.Ordinal));
    }
}
