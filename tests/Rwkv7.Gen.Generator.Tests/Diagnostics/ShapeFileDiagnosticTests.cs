using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Rwkv7.Gen.Generator.Tests.Infrastructure;

namespace Rwkv7.Gen.Generator.Tests.Diagnostics;

/// <summary>
/// One test (or theory) per diagnostic id: each breaks one line of a valid shape file and checks id, severity,
/// file, 1-based line and column, the span, and that nothing else comes out.
/// </summary>
public class ShapeFileDiagnosticTests
{
    /// <summary>
    /// A valid file with every key (line numbers: model 2, layers 3, embedding 4, head_size 5, vocab 6, ffn 7,
    /// decay_rank 8, iclr_rank 9, value_rank 10, gate_rank 11). Every value starts in column 14.
    /// </summary>
    private static readonly string ValidText = string.Join("\n",
        "# a valid shape; each test breaks one line of it",
        "model      = test-model",
        "layers     = 2",
        "embedding  = 128",
        "head_size  = 64",
        "vocab      = 256",
        "ffn        = 512",
        "decay_rank = 32",
        "iclr_rank  = 32",
        "value_rank = 32",
        "gate_rank  = 32",
        "");

    private const int ValueColumn = 14;

    private static readonly Dictionary<string, int> LineOfKey = new()
    {
        ["model"] = 2, ["layers"] = 3, ["embedding"] = 4, ["head_size"] = 5, ["vocab"] = 6, ["ffn"] = 7,
        ["decay_rank"] = 8, ["iclr_rank"] = 9, ["value_rank"] = 10, ["gate_rank"] = 11,
    };

    private static readonly string Path = ShapeTexts.PathOf("test.rwkv7");

    [Fact]
    public void TheBaseFileIsValid()
    {
        GeneratorRun run = Run(ValidText);
        Assert.Empty(run.Diagnostics);
        Assert.Single(run.Sources);
    }

    [Theory]
    [InlineData("layers 12", 1)]
    [InlineData("   layers 12   # no equals sign", 4)]
    [InlineData("\tvocab: 256", 2)]
    [InlineData("= 64", 1)]
    [InlineData("  =", 3)]
    public void RWKV001_MalformedLine(string line, int column)
    {
        InMemoryAdditionalText file = File(ValidText + line + "\n");
        GeneratorRun run = Run(file);

        DiagnosticAssert.Single(run, "RWKV001", Path, 12, column, file, line.Split('#')[0].Trim());
        DiagnosticAssert.NothingGenerated(run);
    }

    [Theory]
    [InlineData("layer = 2", "layer", 1)]
    [InlineData("  Vocab = 256", "Vocab", 3)]
    [InlineData("head size = 64", "head size", 1)]
    public void RWKV002_UnknownKey(string line, string key, int column)
    {
        InMemoryAdditionalText file = File(ValidText + line + "\n");
        GeneratorRun run = Run(file);

        Diagnostic d = DiagnosticAssert.Single(run, "RWKV002", Path, 12, column, file, key);
        Assert.Contains($"'{key}'", d.GetMessage(), StringComparison.Ordinal);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Fact]
    public void RWKV003_DuplicateKey_PointsAtTheSecondOccurrence()
    {
        InMemoryAdditionalText file = File(ValidText + "\n   vocab = 256\n");
        GeneratorRun run = Run(file);

        Diagnostic d = DiagnosticAssert.Single(run, "RWKV003", Path, 13, 4, file, "vocab");
        Assert.Contains("line 6", d.GetMessage(), StringComparison.Ordinal);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Theory]
    [InlineData("model")]
    [InlineData("layers")]
    [InlineData("embedding")]
    [InlineData("head_size")]
    [InlineData("vocab")]
    [InlineData("ffn")]
    [InlineData("decay_rank")]
    [InlineData("iclr_rank")]
    [InlineData("value_rank")]
    [InlineData("gate_rank")]
    public void RWKV004_MissingKey_IsReportedAtTheStartOfTheFile(string key)
    {
        GeneratorRun run = Run(Without(key));

        Diagnostic d = DiagnosticAssert.Single(run, "RWKV004", Path, 1, 1);
        Assert.Contains($"'{key}'", d.GetMessage(), StringComparison.Ordinal);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Fact]
    public void RWKV004_AnEmptyFileMissesEveryRequiredKey()
    {
        GeneratorRun run = Run("# nothing here\n");

        Assert.Equal(10, run.Diagnostics.Length);
        Assert.All(run.Diagnostics, d => DiagnosticAssert.At(d, "RWKV004", Path, 1, 1));
        DiagnosticAssert.NothingGenerated(run);
    }

    [Theory]
    [InlineData("layers", "0")]
    [InlineData("layers", "-3")]
    [InlineData("layers", "+3")]
    [InlineData("layers", "twelve")]
    [InlineData("layers", "12 layers")]
    [InlineData("layers", "1.5")]
    [InlineData("layers", "0x10")]
    [InlineData("layers", "4097")]
    [InlineData("vocab", "2147483648")]
    [InlineData("vocab", "99999999999999999999999")]
    [InlineData("vocab", "16777217")]
    [InlineData("embedding", "_")]
    [InlineData("ffn", "١٢٨")]
    [InlineData("gate_rank", "-32")]
    public void RWKV005_NotAPositiveInteger(string key, string value)
    {
        InMemoryAdditionalText file = File(Set(key, value));
        GeneratorRun run = Run(file);

        Diagnostic d = DiagnosticAssert.Single(run, "RWKV005", Path, LineOfKey[key], ValueColumn, file, value);
        Assert.Contains($"'{value}'", d.GetMessage(), StringComparison.Ordinal);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Fact]
    public void RWKV005_AnEmptyValueIsReportedWhereTheValueShouldBe_WithAnEmptySpan()
    {
        InMemoryAdditionalText file = File(ValidText.Replace("layers     = 2", "layers     =", StringComparison.Ordinal));
        GeneratorRun run = Run(file);

        DiagnosticAssert.Single(run, "RWKV005", Path, 3, 13, file, "");
        DiagnosticAssert.NothingGenerated(run);
    }

    [Fact]
    public void AnEmptyValueOnTheLastLine_StaysInsideTheFile()
    {
        // No newline at the end: a span of one character would reach past the end of the file.
        InMemoryAdditionalText file = File(ValidText.TrimEnd('\n') + "\ntype =");
        GeneratorRun run = Run(file);

        Diagnostic d = DiagnosticAssert.Single(run, "RWKV009", Path, 12, 7, file, "");
        Assert.Equal(file.Content.Length, d.Location.SourceSpan.End);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Theory]
    [InlineData("32")]
    [InlineData("128")]
    [InlineData("6_4_0")]
    public void RWKV006_HeadSizeOtherThan64(string value)
    {
        InMemoryAdditionalText file = File(Set("head_size", value));
        GeneratorRun run = Run(file);

        DiagnosticAssert.Single(run, "RWKV006", Path, 5, ValueColumn, file, value);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Theory]
    [InlineData("96")]
    [InlineData("32")]
    [InlineData("1000")]
    public void RWKV007_EmbeddingNotAMultipleOf64(string value)
    {
        InMemoryAdditionalText file = File(Set("embedding", value));
        GeneratorRun run = Run(file);

        DiagnosticAssert.Single(run, "RWKV007", Path, 4, ValueColumn, file, value);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Theory]
    [InlineData("ffn", "500")]
    [InlineData("ffn", "16")]
    [InlineData("decay_rank", "48")]
    [InlineData("iclr_rank", "1")]
    [InlineData("value_rank", "33")]
    [InlineData("gate_rank", "100")]
    public void RWKV008_WidthNotAMultipleOf32(string key, string value)
    {
        InMemoryAdditionalText file = File(Set(key, value));
        GeneratorRun run = Run(file);

        Diagnostic d = DiagnosticAssert.Single(run, "RWKV008", Path, LineOfKey[key], ValueColumn, file, value);
        Assert.Contains($"'{key}'", d.GetMessage(), StringComparison.Ordinal);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Theory]
    [InlineData("model", "-leading-dash")]
    [InlineData("model", "has space")]
    [InlineData("model", "quote\"d")]
    [InlineData("model", "ünïcode")]
    [InlineData("type", "1Model")]
    [InlineData("type", "My-Model")]
    [InlineData("type", "My.Model")]
    [InlineData("type", "Mödel")]
    [InlineData("namespace", "My..Models")]
    [InlineData("namespace", "My.1Models")]
    [InlineData("namespace", ".My")]
    [InlineData("namespace", "My Models")]
    [InlineData("type", "class")]
    [InlineData("type", "__arglist")]
    [InlineData("type", "record")]
    [InlineData("type", "scoped")]
    [InlineData("type", "tinymodel")]
    [InlineData("namespace", "My.int")]
    [InlineData("namespace", "class.Models")]
    [InlineData("namespace", "My.__makeref")]
    public void RWKV009_InvalidName(string key, string value)
    {
        // model is on line 2; type and namespace are appended as line 12.
        string text = key == "model" ? Set("model", value) : ValidText + $"{key.PadRight(10)} = {value}\n";
        InMemoryAdditionalText file = File(text);
        GeneratorRun run = Run(file);

        Diagnostic d = DiagnosticAssert.Single(run, "RWKV009", Path, key == "model" ? 2 : 12, ValueColumn, file, value);
        Assert.Contains($"'{key}'", d.GetMessage(), StringComparison.Ordinal);
        DiagnosticAssert.NothingGenerated(run);
    }

    [Fact]
    public void NamesJustInsideTheRulesAreAccepted_AndCompile()
    {
        (string Key, string Value)[] cases =
        [
            ("type", "Model7"), ("type", "model7"), ("type", "_model"), ("type", "Class"),
            ("namespace", "My.var"), ("namespace", "My.record"), ("namespace", "global.Models"), ("namespace", "_1._2"),
        ];

        // One project: distinct model names, and each case in its own namespace (or with its own type name).
        InMemoryAdditionalText[] files =
        [
            .. cases.Select((c, i) => ShapeTexts.File($"case{i}.rwkv7", c.Key == "type"
                ? ShapeTexts.Valid($"case-{i}", type: c.Value, ns: $"Case{i}")
                : ShapeTexts.Valid($"case-{i}", type: $"Case{i}", ns: c.Value))),
        ];
        GeneratorRun run = GeneratorHarness.Run(files);

        Assert.True(run.Diagnostics.IsEmpty, GeneratorRun.Describe(run.Diagnostics));
        Assert.Equal(cases.Length, run.Sources.Length);
        Assert.True(run.CompilerDiagnostics.IsEmpty, GeneratorRun.Describe(run.CompilerDiagnostics));
    }

    [Fact]
    public void EveryMistakeInAFileIsReported_InLineOrder_ThenMissingKeys()
    {
        string text = string.Join("\n",
            "model = ok",
            "layers = 0",
            "embedding = 100",
            "head_size = 64",
            "colour = blue",
            "vocab = 256",
            "vocab = 512",
            "ffn = 400",
            "decay_rank = 32",
            "iclr_rank = 32",
            "value_rank = 32",
            "");
        GeneratorRun run = Run(text);

        Assert.Equal(
            ["RWKV005 (2,10)", "RWKV002 (5,1)", "RWKV003 (7,1)", "RWKV004 (1,1)", "RWKV007 (3,13)", "RWKV008 (8,7)"],
            run.Diagnostics.Select(d => $"{d.Id} ({d.Location.GetLineSpan().StartLinePosition.Line + 1},{d.Location.GetLineSpan().StartLinePosition.Character + 1})"));
        DiagnosticAssert.NothingGenerated(run);
    }

    [Fact]
    public void AValidFileNextToAnInvalidOneStillGenerates()
    {
        InMemoryAdditionalText bad = ShapeTexts.File("bad.rwkv7", Set("head_size", "128"));
        InMemoryAdditionalText good = ShapeTexts.File("good.rwkv7", ShapeTexts.Valid("good-model", type: "GoodModel"));
        GeneratorRun run = GeneratorHarness.Run(bad, good);

        DiagnosticAssert.Single(run, "RWKV006", bad.Path, 5, ValueColumn, bad, "128");
        GeneratedSourceResult source = Assert.Single(run.Sources);
        Assert.Contains("public sealed partial class GoodModel", source.SourceText.ToString(), StringComparison.Ordinal);
        Assert.True(run.CompilerDiagnostics.IsEmpty, GeneratorRun.Describe(run.CompilerDiagnostics));
    }

    [Fact]
    public void FilesWithOtherExtensionsAreIgnored()
    {
        GeneratorRun run = GeneratorHarness.Run(
            ShapeTexts.File("notes.txt", "this is not a shape file"),
            ShapeTexts.File("shape.rwkv7.bak", "neither = is this"),
            ShapeTexts.File("UPPER.RWKV7", ShapeTexts.Valid("upper-model")));

        Assert.Empty(run.Diagnostics);
        Assert.Equal(["Upper_model"], run.Sources.Select(s => s.HintName.Split('.')[^3]));
    }

    private static InMemoryAdditionalText File(string text) => new(Path, text);

    private static GeneratorRun Run(string text) => GeneratorHarness.Run(File(text));

    private static GeneratorRun Run(InMemoryAdditionalText file) => GeneratorHarness.Run(file);

    /// <summary>The valid text with <paramref name="key"/>'s value replaced (the key keeps its line and padding).</summary>
    private static string Set(string key, string value)
    {
        string result = Regex.Replace(ValidText, $"^{key} *= .*$", $"{key.PadRight(10)} = {value}", RegexOptions.Multiline);
        Assert.NotEqual(ValidText, result);
        return result;
    }

    /// <summary>The valid text without <paramref name="key"/>'s line.</summary>
    private static string Without(string key)
    {
        string result = Regex.Replace(ValidText, $"^{key} *= .*\n", "", RegexOptions.Multiline);
        Assert.NotEqual(ValidText, result);
        return result;
    }
}
