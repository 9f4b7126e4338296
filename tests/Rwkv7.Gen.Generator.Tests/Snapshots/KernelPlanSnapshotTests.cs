using Microsoft.CodeAnalysis;
using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Generator.Planning;
using Rwkv7.Gen.Generator.Tests.Infrastructure;
using static Rwkv7.Gen.Generator.Rwkv7ModelGenerator;

namespace Rwkv7.Gen.Generator.Tests.Snapshots;

/// <summary>
/// The kernel plans of the two snapshot shapes, as the pipeline's <see cref="TrackingNames.Plans"/> step made them,
/// written as text (<see cref="KernelPlanText"/>) and compared with <c>KernelPlanSnapshotTests.*.verified.txt</c>
/// beside the generated-code snapshots. A change of tiling, unrolling, blocking, reduction or prefetch shows up here
/// as a diff of decisions, next to the diff of the code that prints them.
/// </summary>
public class KernelPlanSnapshotTests
{
    [Fact]
    public void Tiny() =>
        Snapshot.Verify(KernelPlanText.Write(Plan("tiny")), nameof(KernelPlanSnapshotTests), "txt");

    [Fact]
    public void Rwkv7_0_1B() =>
        Snapshot.Verify(KernelPlanText.Write(Plan("0.1B")), nameof(KernelPlanSnapshotTests), "txt");

    [Fact]
    public void TheEmittedCodeIsThePlansPrinting()
    {
        // The same plan printed twice gives the same source, and the pipeline's source is the plan's printing:
        // nothing reaches the emitter but the plan.
        KernelPlan plan = Plan("0.1B");
        string source = GeneratedSourceSnapshotTests.Generate("0.1B", GeneratedSourceSnapshotTests.Released01BHintName);
        Assert.Equal(source, Emit.ModelEmitter.Emit(plan));
        Assert.Equal(plan, KernelPlanner.Plan(plan.Shape));
    }

    [Fact]
    public void EveryVectorPathHasTilesThatCoverItsInputs()
    {
        foreach (string shape in ShapeCases.All)
        {
            KernelPlan plan = Plan(shape);
            foreach (MatMulPlan m in plan.MatMuls.Concat(plan.Int16MatMuls))
            {
                foreach (MatMulPathPlan path in m.Paths)
                {
                    Assert.Equal(m.Inputs, path.Steps * path.StepInputs);
                    foreach (TilePlan? tile in new[] { path.OneToken?.Full, path.OneToken?.Rest, path.MultiToken?.Full, path.MultiToken?.Rest })
                    {
                        if (tile is null)
                        {
                            continue;
                        }

                        string where = $"{shape}: {m.Type} × {m.Inputs} {path.Path} {tile.Rows} × {tile.Tokens}";
                        Assert.True(((tile.Unroll * tile.Iterations) + tile.Alone) * path.StepInputs == tile.Block, where);
                        Assert.True(tile.Alone < tile.Unroll, where);
                        Assert.True(m.Inputs % tile.Block == 0, where);
                        Assert.Equal(tile.Rows > 1, tile.Prefetch is not null);
                    }

                    Assert.Equal(1, path.OneToken?.Rest.Rows ?? 1);
                    Assert.Equal(1, path.MultiToken?.Rest.Rows ?? 1);
                }
            }
        }
    }

    /// <summary>The plan of a shape case, read from the pipeline step that made it.</summary>
    internal static KernelPlan Plan(string shape)
    {
        GeneratorRun run = GeneratorHarness.Run(ShapeCases.File(shape));
        Assert.Empty(run.Diagnostics);
        IncrementalGeneratorRunStep step = Assert.Single(run.Steps(TrackingNames.Plans));
        return Assert.IsType<KernelPlan>(Assert.Single(step.Outputs).Value);
    }
}
