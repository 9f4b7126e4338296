using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Rwkv7.Gen.Generator.Tests.Infrastructure;

namespace Rwkv7.Gen.Generator.Tests.Compiles;

/// <summary>
/// The generated type's own name is in scope throughout its body, so a type named like something the body refers
/// to (Unsafe, ModelShape, its nested Kernels...) would capture that name. Such names must be refused with RWKV009;
/// every other name must compile. The candidates are read from the generated code itself, so a name the emitter
/// starts to use is covered without editing this test.
/// </summary>
public class GeneratedTypeNameTests
{
    [Fact]
    public void EveryNameTheGeneratedCodeUsesIsEitherRefusedOrCompiles()
    {
        IReadOnlyList<string> names = NamesUsedByGeneratedCode();
        Assert.Contains("Unsafe", names);
        Assert.Contains("ModelShape", names);
        Assert.Contains("Kernels", names);
        Assert.Contains("RwkvModel", names); // only in a <see cref>
        Assert.Contains("ModuleInitializer", names); // an attribute, written without its suffix

        InMemoryAdditionalText[] files =
        [
            .. names.Select((name, i) => ShapeTexts.File($"probe{i}.rwkv7", ShapeTexts.Valid($"probe-{i}", type: name, ns: $"Probe{i}"))),
        ];
        GeneratorRun run = GeneratorHarness.Run(files);

        var wrong = new List<string>();
        for (int i = 0; i < names.Count; i++)
        {
            Diagnostic[] reported = [.. run.DiagnosticsFor(files[i])];
            string hintName = $"Probe{i}.{names[i]}.g.cs";
            if (reported is [{ Id: "RWKV009" } refused] && !run.TryGetSource(hintName, out _))
            {
                Assert.Contains($"'{names[i]}'", refused.GetMessage(), StringComparison.Ordinal);
                continue;
            }

            bool generated = run.TryGetSource(hintName, out GeneratedSourceResult source);
            Diagnostic[] problems = generated ? [.. run.CompilerDiagnosticsIn(source)] : [];
            if (reported.Length != 0 || !generated || problems.Length != 0)
            {
                wrong.Add($"type = {names[i]}: {GeneratorRun.Describe(reported.Concat(problems).Take(2))}");
            }
        }

        Assert.True(wrong.Count == 0, "Names neither refused with RWKV009 nor compiling:\n" + string.Join("\n", wrong));
    }

    [Fact]
    public void ARefusedNameDerivedFromTheModelNameIsReportedAtTheModelName()
    {
        InMemoryAdditionalText file = ShapeTexts.File("kernels.rwkv7", ShapeTexts.Valid("kernels"));
        GeneratorRun run = GeneratorHarness.Run(file);

        Diagnostic d = DiagnosticAssert.Single(run, "RWKV009", file.Path, 2, 14, file, "kernels");
        Assert.Contains("'Kernels'", d.GetMessage(), StringComparison.Ordinal);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Fact]
    public void ARefusedTypeNameIsReportedAtTheTypeKey()
    {
        InMemoryAdditionalText file = ShapeTexts.File("a.rwkv7", ShapeTexts.Valid("a", type: "Unsafe"));
        GeneratorRun run = GeneratorHarness.Run(file);

        DiagnosticAssert.Single(run, "RWKV009", file.Path, 3, 14, file, "Unsafe");
        DiagnosticAssert.NothingGenerated(run);
    }

    /// <summary>
    /// Simple names in a generated model that bind to a type or namespace (doc-comment crefs and attributes
    /// included), and the names of the members the generated type declares; its own name excluded.
    /// </summary>
    private static List<string> NamesUsedByGeneratedCode()
    {
        GeneratorRun run = GeneratorHarness.Run(ShapeTexts.File("smallest.rwkv7", ShapeTexts.Valid("smallest", type: "SmallestModel", ns: "Probe")));
        SyntaxTree tree = Assert.Single(run.Sources).SyntaxTree;
        SemanticModel model = run.Output.GetSemanticModel(run.Output.SyntaxTrees.Single(t => t.FilePath == tree.FilePath));
        SyntaxNode root = model.SyntaxTree.GetRoot();
        ClassDeclarationSyntax generated = root.DescendantNodes().OfType<ClassDeclarationSyntax>().First();

        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (SimpleNameSyntax name in root.DescendantNodes(descendIntoTrivia: true).OfType<SimpleNameSyntax>())
        {
            SymbolInfo info = model.GetSymbolInfo(name);
            ISymbol? symbol = info.Symbol ?? info.CandidateSymbols.FirstOrDefault();
            if (symbol is INamedTypeSymbol or INamespaceSymbol || (symbol is IMethodSymbol { MethodKind: MethodKind.Constructor } && name.Parent is AttributeSyntax))
            {
                names.Add(name.Identifier.ValueText);
            }
        }

        foreach (MemberDeclarationSyntax member in generated.Members)
        {
            names.Add(member switch
            {
                FieldDeclarationSyntax f => f.Declaration.Variables[0].Identifier.ValueText,
                PropertyDeclarationSyntax p => p.Identifier.ValueText,
                MethodDeclarationSyntax m => m.Identifier.ValueText,
                BaseTypeDeclarationSyntax t => t.Identifier.ValueText,
                _ => generated.Identifier.ValueText,
            });
        }

        names.Remove(generated.Identifier.ValueText);
        return [.. names];
    }
}
