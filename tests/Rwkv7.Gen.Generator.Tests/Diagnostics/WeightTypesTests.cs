using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Emit;
using Rwkv7.Gen.Generator.Tests.Infrastructure;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Tests.Diagnostics;

/// <summary>
/// The optional <c>weights</c> key: which weight types get generated matrix kernels. Each mistake is an RWKV011 at the
/// item that makes it; a valid list leaves the other types' kernels out of the source, which still compiles cleanly.
/// </summary>
public class WeightTypesTests
{
    private static readonly string Path = ShapeTexts.PathOf("test.rwkv7");

    /// <summary>The 0.1B widths (768 and 3,072 inputs), where the 8-bit one-token kernels exist too.</summary>
    private static string Shape(string? weights) =>
        ShapeTexts.Valid(embedding: 768, ffn: 3072, gateRank: 128) + (weights is null ? "" : $"weights    = {weights}\n");

    [Theory]
    [InlineData("bf16", (int)WeightType.BF16)]
    [InlineData("q8, bf16", (int)(WeightType.BF16 | WeightType.Q8))]
    [InlineData("fp32,bf16 ,  q8", (int)WeightTypeSet.All)]
    public void A_valid_list_sets_the_types(string weights, int expected)
    {
        ShapeFile file = ShapeFileParser.Parse(Shape(weights));
        Assert.True(file.IsValid, string.Join("; ", file.Errors));
        Assert.Equal((WeightType)expected, file.WeightTypes);
    }

    [Fact]
    public void Without_the_key_every_type_is_generated()
    {
        Assert.Equal(WeightTypeSet.All, ShapeFileParser.Parse(Shape(null)).WeightTypes);
        string source = Assert.Single(GeneratorHarness.Run(ShapeTexts.File("test.rwkv7", Shape(null))).Sources).SourceText.ToString();
        Assert.Contains("MatMulBF16In768V512", source, StringComparison.Ordinal);
        Assert.Contains("MatMulF32In768V512", source, StringComparison.Ordinal);
        Assert.Contains("MatMulQ8In768V512", source, StringComparison.Ordinal);
        Assert.Contains("MatMulQ8Int16In768V512", source, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("int4", "int4", 0)]
    [InlineData("bf16, fp16", "fp16", 6)]
    [InlineData("bf16, q8, bf16", "bf16", 10)]
    [InlineData("BF16", "BF16", 0)]
    public void RWKV011_points_at_the_item(string weights, string item, int offset)
    {
        var file = new InMemoryAdditionalText(Path, Shape(weights));
        GeneratorRun run = GeneratorHarness.Run(file);

        // The key is on the line after the valid text's last; its value starts in column 14.
        int line = Shape(null).Split('\n').Length;
        Diagnostic d = DiagnosticAssert.Single(run, "RWKV011", Path, line, 14 + offset, file, item);
        Assert.Contains($"'{item}'", d.GetMessage(), StringComparison.Ordinal);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Theory]
    [InlineData("bf16,")]
    [InlineData("")]
    public void RWKV011_for_an_empty_item(string weights)
    {
        GeneratorRun run = GeneratorHarness.Run(new InMemoryAdditionalText(Path, Shape(weights)));
        Diagnostic d = Assert.Single(run.Diagnostics);
        Assert.Equal("RWKV011", d.Id);
        Assert.Contains("empty item", d.GetMessage(), StringComparison.Ordinal);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Fact]
    public void Only_the_listed_types_get_kernels_and_the_source_compiles_without_warnings()
    {
        string all = Assert.Single(GeneratorHarness.Run(ShapeTexts.File("test.rwkv7", Shape(null))).Sources).SourceText.ToString();
        GeneratorRun run = GeneratorHarness.Run(ShapeTexts.File("test.rwkv7", Shape("bf16")));
        Assert.Empty(run.Diagnostics);
        string source = Assert.Single(run.Sources).SourceText.ToString();

        Assert.Contains("MatMulBF16In768V512", source, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"MatMulF32In\d", source);
        Assert.DoesNotMatch(@"MatMulQ8In\d", source);
        Assert.DoesNotMatch(@"MatMulQ8Int16In\d", source);
        Assert.Contains("matrix products over bf16 weights", source, StringComparison.Ordinal);
        Assert.True(source.Length < all.Length / 2, $"bf16 only: {source.Length} characters against {all.Length} for every type");

        using var stream = new MemoryStream();
        EmitResult result = run.Output.Emit(stream);
        Diagnostic[] problems = [.. result.Diagnostics.Where(x => x.Severity >= DiagnosticSeverity.Warning)];
        Assert.True(result.Success && problems.Length == 0, GeneratorRun.Describe(problems));
    }
}
