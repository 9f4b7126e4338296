using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Generator.Tests.Infrastructure;
using static Rwkv7.Gen.Generator.Rwkv7ModelGenerator;

namespace Rwkv7.Gen.Generator.Tests.Pipeline;

/// <summary>
/// What each pipeline step does on a second run of the same driver, read from the steps the driver tracked: the IDE
/// runs the generator on every keystroke, so an edit must redo only the work it invalidates.
/// </summary>
public class IncrementalCachingTests
{
    private static readonly IncrementalStepRunReason[] Reused = [IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged];

    private readonly InMemoryAdditionalText _first = ShapeTexts.File("first.rwkv7", ShapeTexts.Valid("first-model", type: "FirstModel"));
    private readonly InMemoryAdditionalText _second = ShapeTexts.File("second.rwkv7", ShapeTexts.Valid("second-model", type: "SecondModel"));

    [Fact]
    public void TheFirstRunProducesEverythingAsNew()
    {
        GeneratorRun run = GeneratorHarness.Run(_first, _second);

        foreach (string name in StepNames)
        {
            Assert.All(Reasons(run, name), r => Assert.Equal(IncrementalStepRunReason.New, r));
        }

        Assert.Equal(2, SourceOutputs(run).Count);
        Assert.All(SourceOutputs(run).Values, r => Assert.Equal(IncrementalStepRunReason.New, r));
    }

    [Fact]
    public void AnUnrelatedCSharpEdit_ReusesEveryStepAndOutput()
    {
        GeneratorRun first = GeneratorHarness.Run(_first, _second);
        Compilation edited = first.Input.AddSyntaxTrees(
            CSharpSyntaxTree.ParseText("namespace App; internal static class Edited { }", GeneratorHarness.ParseOptions));
        GeneratorRun second = GeneratorHarness.Run(first.Driver, edited);

        foreach (string name in StepNames)
        {
            IncrementalStepRunReason[] reasons = Reasons(second, name);
            Assert.NotEmpty(reasons);
            Assert.All(reasons, r => Assert.Contains(r, Reused));
        }

        Assert.All(AllOutputReasons(second), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
        Assert.Equal(first.HintNames, second.HintNames);
    }

    [Fact]
    public void ACommentOnlyEdit_ReparsesToAnEqualSpec_AndEmitsNothing()
    {
        GeneratorRun first = GeneratorHarness.Run(_first, _second);
        string commented = "# a new first line shifts every line\n" + _first.Content.Replace("\nlayers", "   # trailing comment\nlayers", StringComparison.Ordinal);
        Assert.NotEqual(_first.Content, commented);
        InMemoryAdditionalText edited = _first.WithText(commented);
        GeneratorRun second = GeneratorHarness.Run(first.Driver.ReplaceAdditionalText(_first, edited), first.Input);

        Assert.Equal(IncrementalStepRunReason.Modified, ReasonFor(second, TrackingNames.ShapeFiles, edited.Path));
        // The parse result moves with the lines (it records where the model and type names were written, for RWKV010),
        // but the specs the emitter consumes are equal, so no source is produced again.
        Assert.Equal(IncrementalStepRunReason.Modified, ReasonFor(second, TrackingNames.ParsedShapes, _first.Path));
        Assert.Equal(IncrementalStepRunReason.Cached, ReasonFor(second, TrackingNames.ParsedShapes, _second.Path));
        Assert.All(Reasons(second, TrackingNames.ValidShapes), r => Assert.Contains(r, Reused));
        Assert.All(Reasons(second, TrackingNames.Plans), r => Assert.Contains(r, Reused));
        Assert.All(SourceOutputs(second).Values, r => Assert.Contains(r, Reused));
        Assert.All(AllOutputReasons(second), r => Assert.Contains(r, Reused));
    }

    [Fact]
    public void ChangingOneFilesEmbedding_ReemitsOnlyThatFile()
    {
        GeneratorRun first = GeneratorHarness.Run(_first, _second);
        string before = first.Source("Rwkv7.Gen.Models.SecondModel.g.cs");
        InMemoryAdditionalText edited = _first.WithText(_first.Content.Replace("embedding  = 64", "embedding  = 128", StringComparison.Ordinal));
        Assert.NotEqual(_first.Content, edited.Content);
        GeneratorRun second = GeneratorHarness.Run(first.Driver.ReplaceAdditionalText(_first, edited), first.Input);

        Assert.Equal(IncrementalStepRunReason.Modified, ReasonFor(second, TrackingNames.ParsedShapes, _first.Path));
        Assert.Equal(IncrementalStepRunReason.Cached, ReasonFor(second, TrackingNames.ParsedShapes, _second.Path));
        Assert.Equal(IncrementalStepRunReason.Modified, ReasonFor(second, TrackingNames.Plans, _first.Path));
        Assert.Contains(ReasonFor(second, TrackingNames.Plans, _second.Path), Reused);
        Dictionary<string, IncrementalStepRunReason> outputs = SourceOutputs(second);
        Assert.Equal(IncrementalStepRunReason.Modified, outputs["first.rwkv7"]);
        Assert.Contains(outputs["second.rwkv7"], Reused);
        Assert.Contains("private const int D = 128;", second.Source("Rwkv7.Gen.Models.FirstModel.g.cs"), StringComparison.Ordinal);
        Assert.Equal(before, second.Source("Rwkv7.Gen.Models.SecondModel.g.cs"));
    }

    [Fact]
    public void AddingAndRemovingAFile_AddsAndRemovesOnlyItsOutput()
    {
        GeneratorRun first = GeneratorHarness.Run(_first);
        GeneratorRun added = GeneratorHarness.Run(first.Driver.AddAdditionalTexts([_second]), first.Input);

        Assert.Equal(IncrementalStepRunReason.New, SourceOutputs(added)["second.rwkv7"]);
        Assert.Contains(SourceOutputs(added)["first.rwkv7"], Reused);
        Assert.Equal(2, added.Sources.Length);

        GeneratorRun removed = GeneratorHarness.Run(added.Driver.RemoveAdditionalTexts([_first]), first.Input);
        Assert.Equal(["Rwkv7.Gen.Models.SecondModel.g.cs"], removed.HintNames);
        Assert.Contains(IncrementalStepRunReason.Removed, Reasons(removed, TrackingNames.ParsedShapes));
    }

    [Fact]
    public void BreakingAFile_RemovesItsOutputAndReportsIt_FixingItBringsItBack()
    {
        GeneratorRun first = GeneratorHarness.Run(_first, _second);
        InMemoryAdditionalText broken = _first.WithText(_first.Content.Replace("head_size  = 64", "head_size  = 32", StringComparison.Ordinal));
        GeneratorRun second = GeneratorHarness.Run(first.Driver.ReplaceAdditionalText(_first, broken), first.Input);

        Assert.Equal(["Rwkv7.Gen.Models.SecondModel.g.cs"], second.HintNames);
        Assert.Equal("RWKV006", Assert.Single(second.Diagnostics).Id);

        InMemoryAdditionalText fixedAgain = broken.WithText(_first.Content);
        GeneratorRun third = GeneratorHarness.Run(second.Driver.ReplaceAdditionalText(broken, fixedAgain), first.Input);
        Assert.Equal(first.HintNames, third.HintNames);
        Assert.Empty(third.Diagnostics);
    }

    [Fact]
    public void ACommentEditAboveAnError_MovesTheReportedPosition()
    {
        // Diagnostics carry positions, so they must not be served from the cache when lines move.
        InMemoryAdditionalText broken = _first.WithText(_first.Content.Replace("head_size  = 64", "head_size  = 32", StringComparison.Ordinal));
        GeneratorRun first = GeneratorHarness.Run(broken);
        int line = Assert.Single(first.Diagnostics).Location.GetLineSpan().StartLinePosition.Line;

        InMemoryAdditionalText moved = broken.WithText("# one more line\n" + broken.Content);
        GeneratorRun second = GeneratorHarness.Run(first.Driver.ReplaceAdditionalText(broken, moved), first.Input);

        Assert.Equal(line + 1, Assert.Single(second.Diagnostics).Location.GetLineSpan().StartLinePosition.Line);
    }

    private static readonly string[] StepNames =
    [
        TrackingNames.ShapeFiles, TrackingNames.ParsedShapes, TrackingNames.AllShapes, TrackingNames.ValidShapes, TrackingNames.Plans,
        TrackingNames.Diagnostics,
    ];

    private static IncrementalStepRunReason[] Reasons(GeneratorRun run, string step) =>
        [.. run.Steps(step).SelectMany(s => s.Outputs).Select(o => o.Reason)];

    /// <summary>The reason of the single output of <paramref name="step"/> that concerns the file at <paramref name="path"/>.</summary>
    private static IncrementalStepRunReason ReasonFor(GeneratorRun run, string step, string path)
    {
        (object Value, IncrementalStepRunReason Reason)[] matches =
        [
            .. run.Steps(step).SelectMany(s => s.Outputs).Where(o => o.Value switch
            {
                AdditionalText t => t.Path == path,
                ParsedShapeFile p => p.FilePath == path,
                KernelPlan p => ShapeTexts.PathOf(p.Shape.FileName) == path,
                _ => throw new InvalidOperationException($"Step {step} has outputs of type {o.Value.GetType()}"),
            }),
        ];
        return Assert.Single(matches).Reason;
    }

    /// <summary>The reason of every source output (generated files and reported diagnostics).</summary>
    private static IEnumerable<IncrementalStepRunReason> AllOutputReasons(GeneratorRun run) =>
        run.Result.TrackedOutputSteps.Values.SelectMany(steps => steps).SelectMany(s => s.Outputs).Select(o => o.Reason);

    /// <summary>
    /// The source outputs that add generated files, keyed by the shape file each came from (read from the
    /// <see cref="KernelPlan"/> the output step consumed: the emitter's only input).
    /// </summary>
    private static Dictionary<string, IncrementalStepRunReason> SourceOutputs(GeneratorRun run)
    {
        var result = new Dictionary<string, IncrementalStepRunReason>(StringComparer.Ordinal);
        foreach (IncrementalGeneratorRunStep step in run.Result.TrackedOutputSteps.Values.SelectMany(steps => steps))
        {
            (IncrementalGeneratorRunStep source, int index) = Assert.Single(step.Inputs);
            if (source.Name == TrackingNames.Plans)
            {
                var plan = (KernelPlan)source.Outputs[index].Value;
                result.Add(plan.Shape.FileName, Assert.Single(step.Outputs).Reason);
            }
        }

        return result;
    }
}
