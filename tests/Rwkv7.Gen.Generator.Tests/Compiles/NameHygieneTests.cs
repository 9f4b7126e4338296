using Microsoft.CodeAnalysis;
using Rwkv7.Gen.Generator.Tests.Infrastructure;

namespace Rwkv7.Gen.Generator.Tests.Compiles;

/// <summary>
/// The generated code must compile whatever the user's namespace is called and whatever types the user's project
/// declares around it: names it refers to may not be captured by the user's names. Each test compiles all its cases
/// in one project (each in its own namespace) and names every case that fails.
/// </summary>
public class NameHygieneTests
{
    [Fact]
    public void NamespacesWhoseSegmentsShadowFrameworkOrRuntimeNamespaces()
    {
        AssertEachCompiles(
        [
            ("Contoso.System", null), ("Contoso.System.Numerics", null), ("Contoso.Rwkv7", null), ("Contoso.Rwkv7.Gen", null),
            ("System", null), ("Rwkv7.Gen", null), ("Rwkv7.Gen.Specialized", null),
        ]);
    }

    [Fact]
    public void TypesNamedLikeTheNamespacesTheGeneratedCodeImports()
    {
        AssertEachCompiles(
        [
            ("Case.A", "System"), ("Case.B", "Rwkv7"), ("Case.C", "Gen"), ("Case.D", "Runtime"), ("Case.E", "Numerics"),
            ("Case.F", "Intrinsics"), ("Case.G", "Specialized"),
        ]);
    }

    [Fact]
    public void UserTypesInEnclosingNamespacesDoNotCaptureNamesTheGeneratedCodeUses()
    {
        const string user = """
            namespace Contoso
            {
                internal static class Unsafe { }
                internal static class MemoryMarshal { }
                internal static class TensorPrimitives { }
                internal sealed class ModelShape { }
                internal struct Vector256 { }
            }

            namespace System.Runtime
            {
                internal static class Unsafe { }
            }
            """;
        GeneratorRun run = GeneratorHarness.Run(
            GeneratorHarness.CreateDriver(ShapeTexts.File("a.rwkv7", ShapeTexts.Valid("a", ns: "Contoso.Models"))),
            GeneratorHarness.CreateCompilation(user));

        Assert.Single(run.Sources);
        Assert.True(run.CompilerDiagnostics.IsEmpty, GeneratorRun.Describe(run.CompilerDiagnostics));
    }

    [Fact]
    public void ShapeFileNamesWithMarkupOrLineBreaksDoNotBreakTheComments()
    {
        // The file name is quoted in a // comment and in an XML doc comment of the generated code.
        string[] fileNames = ["R&D <draft>.rwkv7", "line\nbreak.rwkv7", "line\u2028separator.rwkv7", "tab\tand\u0085next.rwkv7"];
        InMemoryAdditionalText[] files =
        [
            .. fileNames.Select((name, i) => ShapeTexts.File(name, ShapeTexts.Valid($"case-{i}", ns: $"Case{i}"))),
        ];
        GeneratorRun run = GeneratorHarness.Run(files);

        Assert.Empty(run.Diagnostics);
        Assert.Equal(fileNames.Length, run.Sources.Length);
        Assert.True(run.CompilerDiagnostics.IsEmpty, GeneratorRun.Describe(run.CompilerDiagnostics));
        Assert.Contains("from the shape file 'R&D <draft>.rwkv7'.", run.Source("Case0.Case_0.g.cs"), StringComparison.Ordinal);
    }

    /// <summary>Generates one model per case (namespace, optional type name) in one project; each must generate and compile.</summary>
    private static void AssertEachCompiles((string Namespace, string? Type)[] cases)
    {
        InMemoryAdditionalText[] files =
        [
            .. cases.Select((c, i) => ShapeTexts.File($"case{i}.rwkv7", ShapeTexts.Valid($"case-{i}", type: c.Type, ns: c.Namespace))),
        ];
        GeneratorRun run = GeneratorHarness.Run(files);
        Assert.True(run.Diagnostics.IsEmpty, GeneratorRun.Describe(run.Diagnostics));

        var wrong = new List<string>();
        for (int i = 0; i < cases.Length; i++)
        {
            string hintName = $"{cases[i].Namespace}.{cases[i].Type ?? $"Case_{i}"}.g.cs";
            Diagnostic[] problems = run.TryGetSource(hintName, out GeneratedSourceResult source) ? [.. run.CompilerDiagnosticsIn(source)] : [];
            if (source.HintName is null || problems.Length != 0)
            {
                wrong.Add($"{cases[i]}: {(source.HintName is null ? "not generated" : GeneratorRun.Describe(problems.Take(2)))}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }
}
