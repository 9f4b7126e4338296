using Microsoft.CodeAnalysis;
using Rwkv7.Gen.Generator.Tests.Infrastructure;

namespace Rwkv7.Gen.Generator.Tests.Diagnostics;

/// <summary>
/// RWKV010: two shape files that claim one model name or one generated type. The file that comes later in path
/// order gets the error, at the value that clashes (its model name, or its type name: written, or derived from the
/// model name), and generates nothing; the first one still generates.
/// </summary>
public class DuplicateModelTests
{
    [Fact]
    public void SameModelName_TheLaterFileIsReported()
    {
        InMemoryAdditionalText a = ShapeTexts.File("a.rwkv7", ShapeTexts.Valid("shared-name", type: "FirstModel"));
        InMemoryAdditionalText b = ShapeTexts.File("b.rwkv7", ShapeTexts.Valid("shared-name", type: "SecondModel"));
        GeneratorRun run = GeneratorHarness.Run(b, a);

        Diagnostic d = DiagnosticAssert.Single(run, "RWKV010", b.Path, 2, 14, b, "shared-name");
        Assert.Contains("'shared-name'", d.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("a.rwkv7", d.GetMessage(), StringComparison.Ordinal);
        AssertOnlyGenerated(run, "FirstModel");
    }

    [Fact]
    public void ModelNamesThatDifferOnlyInCase_AreTheSameModel()
    {
        InMemoryAdditionalText a = ShapeTexts.File("a.rwkv7", ShapeTexts.Valid("RWKV7-Tiny", type: "FirstModel"));
        InMemoryAdditionalText b = ShapeTexts.File("b.rwkv7", ShapeTexts.Valid("rwkv7-tiny", type: "SecondModel"));
        GeneratorRun run = GeneratorHarness.Run(a, b);

        DiagnosticAssert.Single(run, "RWKV010", b.Path, 2, 14);
        AssertOnlyGenerated(run, "FirstModel");
    }

    [Fact]
    public void SameTypeInTheSameNamespace_TheLaterFileIsReported()
    {
        InMemoryAdditionalText a = ShapeTexts.File("a.rwkv7", ShapeTexts.Valid("model-a", type: "SharedType"));
        InMemoryAdditionalText b = ShapeTexts.File("b.rwkv7", ShapeTexts.Valid("model-b", type: "SharedType"));
        GeneratorRun run = GeneratorHarness.Run(a, b);

        Diagnostic d = DiagnosticAssert.Single(run, "RWKV010", b.Path, 3, 14, b, "SharedType");
        Assert.Contains("Rwkv7.Gen.Models.SharedType", d.GetMessage(), StringComparison.Ordinal);
        AssertOnlyGenerated(run, "SharedType");
        Assert.Contains("\"model-a\"", run.Sources[0].SourceText.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void DerivedTypeNamesCanCollide()
    {
        // Both model names derive the type name Rwkv7_0_1b.
        InMemoryAdditionalText a = ShapeTexts.File("a.rwkv7", ShapeTexts.Valid("rwkv7-0.1b"));
        InMemoryAdditionalText b = ShapeTexts.File("b.rwkv7", ShapeTexts.Valid("rwkv7_0_1b"));
        GeneratorRun run = GeneratorHarness.Run(a, b);

        DiagnosticAssert.Single(run, "RWKV010", b.Path, 2, 14, b, "rwkv7_0_1b"); // the name the type was derived from
        AssertOnlyGenerated(run, "Rwkv7_0_1b");
    }

    [Fact]
    public void SameTypeNameInDifferentNamespaces_BothGenerate()
    {
        GeneratorRun run = GeneratorHarness.Run(
            ShapeTexts.File("a.rwkv7", ShapeTexts.Valid("model-a", type: "Model", ns: "Contoso.First")),
            ShapeTexts.File("b.rwkv7", ShapeTexts.Valid("model-b", type: "Model", ns: "Contoso.Second")));

        Assert.Empty(run.Diagnostics);
        Assert.Equal(2, run.Sources.Length);
        Assert.True(run.CompilerDiagnostics.IsEmpty, GeneratorRun.Describe(run.CompilerDiagnostics));
        Assert.NotNull(run.Output.GetTypeByMetadataName("Contoso.First.Model"));
        Assert.NotNull(run.Output.GetTypeByMetadataName("Contoso.Second.Model"));
    }

    [Fact]
    public void TypeNamesThatDifferOnlyInCase_AreReported()
    {
        // Legal C#, but their generated files would share one name on case-insensitive file systems.
        InMemoryAdditionalText a = ShapeTexts.File("a.rwkv7", ShapeTexts.Valid("model-a", type: "TinyModel"));
        InMemoryAdditionalText b = ShapeTexts.File("b.rwkv7", ShapeTexts.Valid("model-b", type: "TINYModel"));
        GeneratorRun run = GeneratorHarness.Run(a, b);

        Diagnostic d = DiagnosticAssert.Single(run, "RWKV010", b.Path, 3, 14);
        Assert.Contains("TinyModel", d.GetMessage(), StringComparison.Ordinal);
        AssertOnlyGenerated(run, "TinyModel");
    }

    [Fact]
    public void TheReportedFileDoesNotDependOnTheOrderFilesArrive()
    {
        InMemoryAdditionalText a = ShapeTexts.File("a.rwkv7", ShapeTexts.Valid("same", type: "FirstModel"));
        InMemoryAdditionalText b = ShapeTexts.File("b.rwkv7", ShapeTexts.Valid("same", type: "SecondModel"));

        foreach (InMemoryAdditionalText[] order in new[] { new[] { a, b }, new[] { b, a } })
        {
            GeneratorRun run = GeneratorHarness.Run(order);
            DiagnosticAssert.Single(run, "RWKV010", b.Path, 2, 14);
            AssertOnlyGenerated(run, "FirstModel");
        }
    }

    private static void AssertOnlyGenerated(GeneratorRun run, string typeName)
    {
        GeneratedSourceResult source = Assert.Single(run.Sources);
        Assert.Contains($"public sealed partial class {typeName} ", source.SourceText.ToString(), StringComparison.Ordinal);
        Assert.True(run.CompilerDiagnostics.IsEmpty, GeneratorRun.Describe(run.CompilerDiagnostics));
    }
}
