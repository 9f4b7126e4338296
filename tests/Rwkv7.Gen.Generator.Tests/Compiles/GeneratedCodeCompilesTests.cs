using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Emit;
using Rwkv7.Gen.Generator.Tests.Infrastructure;
using Rwkv7.Gen.Shapes;
using Rwkv7.Gen.Specialized;

namespace Rwkv7.Gen.Generator.Tests.Compiles;

/// <summary>
/// The generated code compiles cleanly (no error, no warning, nullable on, the repository's warning level, XML doc
/// comments checked) for every shape we ship or test with, and the type it defines carries the shape's numbers.
/// </summary>
public class GeneratedCodeCompilesTests
{
    [Fact]
    public void TheFixtureModelsCompileTogetherInOneProject()
    {
        // As in the numeric test project: both fixture shapes, one namespace, two module initializers.
        GeneratorRun run = GeneratorHarness.Run(ShapeCases.File("tiny"), ShapeCases.File("mh4"));

        Assert.Empty(run.Diagnostics);
        Assert.Equal(["Rwkv7.Gen.Tests.Generated.Mh4Model.g.cs", "Rwkv7.Gen.Tests.Generated.TinyModel.g.cs"], run.HintNames);
        Assert.True(run.CompilerDiagnostics.IsEmpty, GeneratorRun.Describe(run.CompilerDiagnostics));
    }

    [Fact]
    public void CompilesNextToUserCodeThatUsesTheGeneratedType()
    {
        const string user = """
            using Rwkv7.Gen;
            using Rwkv7.Gen.Tests.Generated;

            namespace UserApp;

            internal static class Uses
            {
                public static string Name => TinyModel.ModelName;

                public static ModelShape Shape => TinyModel.DeclaredShape;

                public static int Width => TinyModel.Kernels.Embedding;
            }
            """;
        GeneratorRun run = GeneratorHarness.Run(GeneratorHarness.CreateDriver(ShapeCases.File("tiny")), GeneratorHarness.CreateCompilation(user));

        Assert.True(run.CompilerDiagnostics.IsEmpty, GeneratorRun.Describe(run.CompilerDiagnostics));
    }

    /// <summary>
    /// Compiles (emits, so code generation runs too) with no error and no warning, then loads the assembly and checks
    /// that the generated type carries the shape file's numbers.
    /// </summary>
    [Theory]
    [MemberData(nameof(ShapeCases.Names), MemberType = typeof(ShapeCases))]
    public void CompilesWithoutErrorsOrWarnings_AndCarriesTheShapeFilesNumbers(string shape)
    {
        InMemoryAdditionalText file = ShapeCases.File(shape);
        ShapeFile expected = ShapeFileParser.Parse(file.Content);
        Assert.True(expected.IsValid);
        ShapeNumbers n = expected.Numbers;
        GeneratorRun run = GeneratorHarness.Run(file);
        Assert.Empty(run.Diagnostics);
        Assert.Single(run.Sources);

        var context = new AssemblyLoadContext("generated " + shape, isCollectible: true);
        try
        {
            Assembly assembly = context.LoadFromStream(Emit(run.Output));
            Type model = assembly.GetType(expected.Namespace + "." + expected.TypeName, throwOnError: true)!;
            Type kernels = model.GetNestedType("Kernels")!;

            Assert.Equal(expected.Model, model.GetField("ModelName")!.GetRawConstantValue());
            Assert.Equal(model.FullName, model.GetField("GeneratedTypeName")!.GetRawConstantValue());
            Assert.Equal(
                new ModelShape(n.Layers, n.Embedding, n.HeadSize, n.Vocab, n.Ffn, n.DecayRank, n.IclrRank, n.ValueRank, n.GateRank),
                model.GetProperty("DeclaredShape")!.GetValue(null));
            Assert.True(typeof(IRwkvKernels).IsAssignableFrom(kernels));
            Assert.Equal(
                (n.Embedding, n.Heads, n.Ffn, n.DecayRank, n.IclrRank, n.ValueRank, n.GateRank),
                (Get(kernels, "Embedding"), Get(kernels, "Heads"), Get(kernels, "Ffn"), Get(kernels, "DecayRank"), Get(kernels, "IclrRank"),
                    Get(kernels, "ValueRank"), Get(kernels, "GateRank")));
        }
        finally
        {
            context.Unload();
        }
    }

    private static MemoryStream Emit(Compilation compilation)
    {
        var stream = new MemoryStream();
        EmitResult result = compilation.Emit(stream);
        Diagnostic[] problems = [.. result.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning)];
        Assert.True(result.Success && problems.Length == 0, GeneratorRun.Describe(problems));
        stream.Position = 0;
        return stream;
    }

    private static int Get(Type type, string property) => (int)type.GetProperty(property, BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
}
