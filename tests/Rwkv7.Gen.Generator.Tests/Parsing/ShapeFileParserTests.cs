using System.Text;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Tests.Parsing;

/// <summary>
/// The shape-file parser on its own (it is shared with the runtime, so it is tested apart from the generator):
/// line endings, comments, number syntax, derived type names, and positions that agree with offsets.
/// </summary>
public class ShapeFileParserTests
{
    private const string Lf = """
        # the 0.1B model
        model      = rwkv7-0.1b
        layers     = 12
        embedding  = 768
        head_size  = 64
        vocab      = 65536
        ffn        = 3072
        decay_rank = 64
        iclr_rank  = 64
        value_rank = 32
        gate_rank  = 128

        """;

    private static readonly string Text = Lf.Replace("\r\n", "\n", StringComparison.Ordinal);

    [Fact]
    public void AValidFileGivesEveryNumber_TheDerivedTypeName_AndTheDefaultNamespace()
    {
        ShapeFile file = ShapeFileParser.Parse(Text);

        Assert.Empty(file.Errors);
        Assert.True(file.IsValid);
        Assert.Equal(("rwkv7-0.1b", "Rwkv7_0_1b", "Rwkv7.Gen.Models"), (file.Model, file.TypeName, file.Namespace));
        Assert.Equal(new ShapeNumbers(12, 768, 64, 65536, 3072, 64, 64, 32, 128), file.Numbers);
    }

    [Fact]
    public void CrlfLineEndingsParseLikeLf()
    {
        string crlf = Text.Replace("\n", "\r\n", StringComparison.Ordinal);
        Assert.Contains("\r\n", crlf, StringComparison.Ordinal);

        AssertSameShape(ShapeFileParser.Parse(Text), ShapeFileParser.Parse(crlf));
        Assert.Empty(ShapeFileParser.Parse(crlf).Errors);
    }

    [Fact]
    public void MixedLineEndingsAndNoFinalNewlineParseLikeLf()
    {
        string[] lines = Text.TrimEnd('\n').Split('\n');
        var sb = new StringBuilder();
        for (int i = 0; i < lines.Length; i++)
        {
            sb.Append(lines[i]).Append(i == lines.Length - 1 ? "" : i % 2 == 0 ? "\r\n" : "\n");
        }

        AssertSameShape(ShapeFileParser.Parse(Text), ShapeFileParser.Parse(sb.ToString()));
    }

    [Fact]
    public void ErrorPositionsInACrlfFileCountTheCarriageReturns()
    {
        string crlf = Text.Replace("layers     = 12", "layers     = twelve", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);

        ShapeFileError error = Assert.Single(ShapeFileParser.Parse(crlf).Errors);

        Assert.Equal((ShapeFileErrorKind.NotPositiveInteger, 2, 13), (error.Kind, error.Line, error.Column));
        Assert.Equal("twelve", crlf.Substring(error.Start, error.Length));
        Assert.Equal("(3,14): " + error.Message, error.ToString());
    }

    [Theory]
    [InlineData("layers     = 12 # twelve blocks")]
    [InlineData("layers     = 12#no space before the hash")]
    [InlineData("layers=12")]
    [InlineData("\tlayers\t=\t12\t")]
    [InlineData("   layers = 12   # indented, with a comment")]
    [InlineData("layers\u00A0=\u00A012")]
    public void CommentsAndWhitespaceAroundAKeyOrValueAreIgnored(string line)
    {
        ShapeFile file = ShapeFileParser.Parse(Text.Replace("layers     = 12", line, StringComparison.Ordinal));

        Assert.Empty(file.Errors);
        Assert.Equal(12, file.Numbers.Layers);
    }

    [Fact]
    public void CommentLinesAndBlankLinesAreIgnored()
    {
        string text = "#\n   # indented comment = with an equals sign\n\n \t \n#layers = 1\n" + Text.Replace("\n", "\n\n", StringComparison.Ordinal);

        AssertSameShape(ShapeFileParser.Parse(Text), ShapeFileParser.Parse(text));
    }

    [Fact]
    public void AHashEndsTheValue()
    {
        ShapeFile file = ShapeFileParser.Parse(Text + "namespace = Contoso#.Models\ntype = Small#Model\n");

        Assert.Empty(file.Errors);
        Assert.Equal(("Contoso", "Small"), (file.Namespace, file.TypeName));
    }

    [Theory]
    [InlineData("65_536", 65536)]
    [InlineData("6_5_5_3_6", 65536)]
    [InlineData("1_000_000", 1000000)]
    [InlineData("16_777_216", 16777216)]
    [InlineData("0065536", 65536)]
    public void UnderscoresSeparateDigits(string value, int expected)
    {
        ShapeFile file = ShapeFileParser.Parse(Text.Replace("vocab      = 65536", "vocab      = " + value, StringComparison.Ordinal));

        Assert.Empty(file.Errors);
        Assert.Equal(expected, file.Numbers.Vocab);
    }

    [Theory]
    [InlineData("layers", "4096", true)]
    [InlineData("layers", "4097", false)]
    [InlineData("vocab", "16777216", true)]
    [InlineData("vocab", "16777217", false)]
    [InlineData("vocab", "2147483647", false)]
    [InlineData("vocab", "999_999_999_999", false)]
    [InlineData("embedding", "65536", true)]
    [InlineData("embedding", "65600", false)]
    [InlineData("ffn", "262144", true)]
    [InlineData("ffn", "262176", false)]
    [InlineData("gate_rank", "8192", true)]
    [InlineData("gate_rank", "8224", false)]
    public void EachNumberHasAnUpperLimit(string key, string value, bool accepted)
    {
        string text = System.Text.RegularExpressions.Regex.Replace(Text, $"(?m)^{key} *= .*$", $"{key} = {value}");
        if (key == "embedding")
        {
            text = text.Replace("ffn        = 3072", "ffn = 256", StringComparison.Ordinal);
        }

        ShapeFile file = ShapeFileParser.Parse(text);

        Assert.Equal(accepted, file.IsValid);
        Assert.Equal(accepted ? 0 : 1, file.Errors.Count(e => e.Kind == ShapeFileErrorKind.NotPositiveInteger));
    }

    [Fact]
    public void KeysAreCaseSensitive()
    {
        ShapeFile file = ShapeFileParser.Parse(Text.Replace("layers     = 12", "Layers     = 12", StringComparison.Ordinal));

        Assert.Equal(
            [ShapeFileErrorKind.UnknownKey, ShapeFileErrorKind.MissingKey],
            file.Errors.Select(e => e.Kind));
    }

    [Fact]
    public void AnInvalidNumberLeavesItsFieldZero()
    {
        ShapeFile file = ShapeFileParser.Parse(Text.Replace("ffn        = 3072", "ffn        = lots", StringComparison.Ordinal));

        Assert.False(file.IsValid);
        Assert.Equal(0, file.Numbers.Ffn);
        Assert.Equal(768, file.Numbers.Embedding);
    }

    [Fact]
    public void AnExplicitTypeAndNamespaceWin()
    {
        ShapeFile file = ShapeFileParser.Parse(Text + "type = SmallModel\nnamespace = Contoso.Models\n");

        Assert.Empty(file.Errors);
        Assert.Equal(("SmallModel", "Contoso.Models"), (file.TypeName, file.Namespace));
    }

    [Theory]
    [InlineData("rwkv7-0.1b", "Rwkv7_0_1b")]
    [InlineData("rwkv7-g1-2.9b", "Rwkv7_g1_2_9b")]
    [InlineData("tiny-7v0-834K", "Tiny_7v0_834K")]
    [InlineData("0.1b", "_0_1b")]
    [InlineData("7B", "_7B")]
    [InlineData("a", "A")]
    [InlineData("RWKV", "RWKV")]
    [InlineData("x.y-z_w", "X_y_z_w")]
    [InlineData("mh4", "Mh4")]
    public void DeriveTypeName(string model, string expected)
    {
        Assert.Equal(expected, ShapeFileParser.DeriveTypeName(model));
    }

    [Fact]
    public void AnEmptyFileMissesTheModelAndEveryNumber()
    {
        ShapeFile file = ShapeFileParser.Parse("");

        Assert.Equal(10, file.Errors.Count);
        Assert.All(file.Errors, e => Assert.Equal((ShapeFileErrorKind.MissingKey, 0, 0, 0, 0), (e.Kind, e.Line, e.Column, e.Start, e.Length)));
        Assert.Equal(
            ["model", "layers", "embedding", "head_size", "vocab", "ffn", "decay_rank", "iclr_rank", "value_rank", "gate_rank"],
            file.Errors.Select(e => e.Message.Split('\'')[1]));
    }

    /// <summary>
    /// Malformed input must never throw or hang, and every error's line and column must agree with its offset: a
    /// fixed-seed stream of files built from shape-file fragments, junk and odd characters.
    /// </summary>
    [Fact]
    public void RandomInputNeverThrows_AndEveryPositionAgreesWithItsOffset()
    {
        string[] fragments =
        [
            "model", "type", "namespace", "layers", "embedding", "head_size", "vocab", "ffn", "decay_rank", "iclr_rank",
            "value_rank", "gate_rank", "=", " = ", "==", "#", " # c", "\n", "\r\n", "\r", "\t", " ", "\u00A0", "\u2028", "\uFEFF",
            "64", "0", "-1", "65_536", "_", "99999999999999999999", "1.5", "x", "My.Ns", "..", "class", "Model7", "ü", "\0",
            new string('9', 200), new string('=', 50), "rwkv7-0.1b",
        ];
        var random = new Random(20250607);
        for (int n = 0; n < 3000; n++)
        {
            var sb = new StringBuilder();
            int count = random.Next(0, 40);
            for (int i = 0; i < count; i++)
            {
                sb.Append(fragments[random.Next(fragments.Length)]);
            }

            string text = sb.ToString();
            ShapeFile file = ShapeFileParser.Parse(text);
            foreach (ShapeFileError e in file.Errors)
            {
                string where = $"input #{n} {Escape(text)}: {e}";
                Assert.True(e.Start >= 0 && e.Length >= 0 && e.Start + e.Length <= text.Length, where);
                if (e.Kind != ShapeFileErrorKind.MissingKey)
                {
                    int lineStart = text.LastIndexOf('\n', Math.Max(e.Start - 1, 0)) is int nl && nl >= 0 && nl < e.Start ? nl + 1 : 0;
                    Assert.True(e.Line == text.AsSpan(0, e.Start).Count('\n') && e.Column == e.Start - lineStart, where);
                }
            }
        }
    }

    [Fact]
    public void TheParsersNumbersAreTheRuntimeModelShapesParameters_InOrder()
    {
        // The runtime copies ShapeNumbers into its public ModelShape, and generated code prints ModelShape's arguments
        // from them, field by field in this order: a renamed or reordered field must fail here, not swap two widths.
        static string[] Parameters(Type type) =>
            [.. Assert.Single(type.GetConstructors(), c => c.GetParameters().Length > 1).GetParameters().Select(p => p.Name!)];

        Assert.Equal(Parameters(typeof(ModelShape)), Parameters(typeof(ShapeNumbers)));
    }

    private static void AssertSameShape(ShapeFile expected, ShapeFile actual)
    {
        Assert.Equal(expected.Errors.Select(e => e.ToString()), actual.Errors.Select(e => e.ToString()));
        Assert.Equal((expected.Model, expected.TypeName, expected.Namespace, expected.Numbers), (actual.Model, actual.TypeName, actual.Namespace, actual.Numbers));
    }

    private static string Escape(string text) =>
        string.Concat(text.Select(c => c < ' ' || c > '~' ? $"\\u{(int)c:X4}" : c.ToString()));
}
