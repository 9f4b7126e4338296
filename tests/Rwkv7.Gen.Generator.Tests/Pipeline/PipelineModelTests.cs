using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Generator.Tests.Infrastructure;
using static Rwkv7.Gen.Generator.Rwkv7ModelGenerator;

namespace Rwkv7.Gen.Generator.Tests.Pipeline;

/// <summary>
/// The values that flow between pipeline steps are plain data: no symbols, syntax, compilations or semantic models
/// (which would keep a whole compilation alive and never compare equal), and equal when their content is.
/// </summary>
public class PipelineModelTests
{
    private static readonly System.Reflection.Assembly GeneratorAssembly = typeof(Rwkv7ModelGenerator).Assembly;

    /// <summary>Valid files, an invalid one and a duplicate: every kind of model value appears.</summary>
    private static InMemoryAdditionalText[] MixedFiles() =>
    [
        ShapeCases.File("tiny"),
        ShapeCases.File("0.1B"),
        ShapeTexts.File("broken.rwkv7", "model = broken\nlayers = x\nhead_size = 32\n"),
        ShapeTexts.File("zz-duplicate.rwkv7", ShapeTexts.Valid("rwkv7-0.1b", type: "Duplicate")),
    ];

    [Fact]
    public void NoStepOutputHoldsACompilerObject()
    {
        GeneratorRun first = GeneratorHarness.Run(MixedFiles());
        Compilation edited = first.Input.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class Edited { }", GeneratorHarness.ParseOptions));
        GeneratorRun second = GeneratorHarness.Run(first.Driver, edited);

        // Our steps only: Roslyn also tracks its own input nodes (the "Compilation" node feeding the GPU-reference
        // step outputs the Compilation itself, by definition). Every step the generator names must be walked.
        HashSet<string> ours = [.. typeof(TrackingNames).GetFields().Select(f => (string)f.GetRawConstantValue()!)];
        var walker = new ModelWalker(GeneratorAssembly);
        foreach (GeneratorRun run in new[] { first, second })
        {
            Assert.Superset(ours, run.Result.TrackedSteps.Keys.ToHashSet());
            foreach ((string name, System.Collections.Immutable.ImmutableArray<IncrementalGeneratorRunStep> steps) in run.Result.TrackedSteps)
            {
                if (!ours.Contains(name))
                {
                    continue;
                }

                foreach (IncrementalGeneratorRunStep step in steps)
                {
                    for (int i = 0; i < step.Outputs.Length; i++)
                    {
                        walker.Walk(step.Outputs[i].Value, $"{name}[{i}]");
                    }
                }
            }
        }

        Assert.True(walker.Findings.Count == 0, string.Join("\n", walker.Findings));

        // The walk reached every kind of model value (else it proves nothing).
        Assert.Contains(typeof(ShapeSpec), walker.VisitedTypes);
        Assert.Contains(typeof(KernelPlan), walker.VisitedTypes);
        Assert.Contains(typeof(TilePlan), walker.VisitedTypes);
        Assert.Contains(typeof(TilePrefetch), walker.VisitedTypes);
        Assert.Contains(typeof(ParsedShapeFile), walker.VisitedTypes);
        Assert.Contains(typeof(DiagnosticInfo), walker.VisitedTypes);
        Assert.Contains(typeof(EquatableArray<ParsedShapeFile>), walker.VisitedTypes);
        Assert.Contains(typeof(EquatableArray<DiagnosticInfo>), walker.VisitedTypes);
    }

    [Fact]
    public void NoModelTypeDeclaresACompilerObject()
    {
        Type[] modelTypes = [.. GeneratorAssembly.GetTypes().Where(t => t.Namespace == "Rwkv7.Gen.Generator.Model" && !t.IsAbstract)];
        Assert.Contains(typeof(ShapeSpec), modelTypes);
        Assert.Contains(typeof(KernelPlan), modelTypes);

        var walker = new ModelWalker(GeneratorAssembly);
        foreach (Type type in modelTypes)
        {
            walker.CheckDeclarations(type);
        }

        Assert.True(walker.Findings.Count == 0, string.Join("\n", walker.Findings));
    }

    [Fact]
    public void TheWalkerFindsCompilerObjects_AtAnyDepth_AndNullFieldsDeclaredAsThem()
    {
        Compilation compilation = GeneratorHarness.CreateCompilation("class C { }");
        SyntaxTree tree = compilation.SyntaxTrees.Single();
        var nested = new Holder("ok", new object[] { 1, new List<object> { ("deep", new Holder("inner", compilation, null)) } }, null);
        var walker = new ModelWalker(typeof(PipelineModelTests).Assembly);

        walker.Walk(nested, "nested");
        walker.Walk(new Holder("syntax", tree.GetRoot().ChildNodes().First(), null), "syntax");
        walker.Walk(new Holder("symbol", compilation.GetTypeByMetadataName("C"), null), "symbol");
        walker.Walk(new Holder("model", compilation.GetSemanticModel(tree), null), "model");

        Assert.Contains(walker.Findings, f => f.StartsWith("nested.", StringComparison.Ordinal) && f.EndsWith("CSharpCompilation", StringComparison.Ordinal));
        Assert.Contains(walker.Findings, f => f.StartsWith("syntax.", StringComparison.Ordinal) && f.Contains("Syntax", StringComparison.Ordinal));
        Assert.Contains(walker.Findings, f => f.StartsWith("symbol.", StringComparison.Ordinal) && f.Contains("Symbol", StringComparison.Ordinal));
        Assert.Contains(walker.Findings, f => f.StartsWith("model.", StringComparison.Ordinal) && f.Contains("SemanticModel", StringComparison.Ordinal));
        Assert.Contains(walker.Findings, f => f == "Holder.Leak is declared as Microsoft.CodeAnalysis.Compilation");
    }

    [Fact]
    public void ModelValuesCompareByContent()
    {
        // Two fresh runs build every value anew: equal content must give equal values and hash codes, or the
        // driver would see every step as modified on every run.
        GeneratorRun a = GeneratorHarness.Run(MixedFiles());
        GeneratorRun b = GeneratorHarness.Run(MixedFiles());

        foreach (string name in new[] { TrackingNames.ParsedShapes, TrackingNames.AllShapes, TrackingNames.ValidShapes, TrackingNames.Plans, TrackingNames.Diagnostics })
        {
            object[] left = [.. a.Steps(name).SelectMany(s => s.Outputs).Select(o => o.Value)];
            object[] right = [.. b.Steps(name).SelectMany(s => s.Outputs).Select(o => o.Value)];
            Assert.NotEmpty(left);
            Assert.Equal(left.Length, right.Length);
            for (int i = 0; i < left.Length; i++)
            {
                Assert.True(left[i].Equals(right[i]), $"{name}[{i}] differs between identical runs: {left[i]}");
                Assert.Equal(left[i].GetHashCode(), right[i].GetHashCode());
                if (!left[i].GetType().IsValueType)
                {
                    Assert.False(ReferenceEquals(left[i], right[i]), $"{name}[{i}] is one shared instance: the test proves nothing");
                }
            }
        }
    }

    private sealed record Holder(string Name, object? Value, Compilation? Leak);
}
