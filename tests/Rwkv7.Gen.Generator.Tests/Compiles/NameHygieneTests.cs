using Rwkv7.Gen.Generator.Tests.Infrastructure;

namespace Rwkv7.Gen.Generator.Tests.Compiles;

/// <summary>
/// The generated code must compile whatever the user's namespace is called and whatever types the user's project
/// declares around it: names it refers to may not be captured by the user's names.
/// </summary>
public class NameHygieneTests
{
    [Theory]
    [InlineData("Contoso.System")]
    [InlineData("Contoso.System.Numerics")]
    [InlineData("Contoso.Rwkv7")]
    [InlineData("Contoso.Rwkv7.Gen")]
    [InlineData("System")]
    [InlineData("Rwkv7.Gen")]
    [InlineData("Rwkv7.Gen.Specialized")]
    public void NamespacesWhoseSegmentsShadowFrameworkOrRuntimeNamespaces(string ns)
    {
        GeneratorRun run = GeneratorHarness.Run(ShapeTexts.File("a.rwkv7", ShapeTexts.Valid("a", ns: ns)));

        Assert.Empty(run.Diagnostics);
        Assert.Single(run.Sources);
        Assert.True(run.CompilerDiagnostics.IsEmpty, GeneratorRun.Describe(run.CompilerDiagnostics));
    }

    [Theory]
    [InlineData("System")]
    [InlineData("Rwkv7")]
    [InlineData("Gen")]
    [InlineData("Runtime")]
    [InlineData("Numerics")]
    public void TypesNamedLikeTheNamespacesTheGeneratedCodeImports(string type)
    {
        GeneratorRun run = GeneratorHarness.Run(ShapeTexts.File("a.rwkv7", ShapeTexts.Valid("a", type: type, ns: "Contoso.Models")));

        Assert.Empty(run.Diagnostics);
        Assert.Single(run.Sources);
        Assert.True(run.CompilerDiagnostics.IsEmpty, GeneratorRun.Describe(run.CompilerDiagnostics));
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
}
