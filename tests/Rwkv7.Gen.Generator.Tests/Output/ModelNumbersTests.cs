using System.Globalization;
using System.Text.RegularExpressions;
using Rwkv7.Gen.Generator.Emit;
using Rwkv7.Gen.Generator.Tests.Infrastructure;

namespace Rwkv7.Gen.Generator.Tests.Output;

/// <summary>
/// The model's numbers are written once (<c>Shared/ModelMath.cs</c>, compiled into the generator, the runtime and the
/// GPU kernels): every generated model carries exactly those floats, printed as the shortest literal that reads back
/// as each one.
/// </summary>
public class ModelNumbersTests
{
    [Theory]
    [MemberData(nameof(ShapeCases.Names), MemberType = typeof(ShapeCases))]
    public void GeneratedConstantsAreTheSharedValues(string shape)
    {
        string source = Assert.Single(GeneratorHarness.Run(ShapeCases.File(shape)).Sources).SourceText.ToString();
        var expected = new Dictionary<string, float>
        {
            [nameof(ModelMath.DecayScale)] = ModelMath.DecayScale,
            [nameof(ModelMath.LayerNormEps)] = ModelMath.LayerNormEps,
            [nameof(ModelMath.GroupNormEps)] = ModelMath.GroupNormEps,
            [nameof(ModelMath.NormFloor)] = ModelMath.NormFloor,
        };

        MatchCollection constants = Regex.Matches(source, @"private const float (\w+) = ([^;]+)f;");
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), constants.Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal));
        foreach (Match m in constants)
        {
            float value = float.Parse(m.Groups[2].Value, NumberStyles.Float, CultureInfo.InvariantCulture);
            Assert.True(
                BitConverter.SingleToInt32Bits(value) == BitConverter.SingleToInt32Bits(expected[m.Groups[1].Value]),
                $"{m.Value} is not ModelMath.{m.Groups[1].Value} ({expected[m.Groups[1].Value]:R})");
        }
    }

    [Theory]
    [InlineData(0.60653065971263342f, "0.60653067f")]
    [InlineData(1e-5f, "1e-5f")]
    [InlineData(64e-5f, "64e-5f")]
    [InlineData(1e-12f, "1e-12f")]
    [InlineData(1f, "1f")]
    [InlineData(0.5f, "0.5f")]
    [InlineData(-2.5f, "-2.5f")]
    [InlineData(123456f, "123456f")]
    [InlineData(1e10f, "1e10f")]
    [InlineData(0f, "0f")]
    [InlineData(0.1f, "0.1f")]
    public void FloatLiteralsAreShortAndReadable(float value, string literal) =>
        Assert.Equal(literal, CSharpLiteral.Float(value));

    [Fact]
    public void FloatLiteralsReadBackAsTheSameFloat()
    {
        var random = new Random(7);
        for (int i = 0; i < 20_000; i++)
        {
            float value = BitConverter.Int32BitsToSingle(random.Next(int.MinValue, int.MaxValue));
            if (!float.IsFinite(value))
            {
                continue;
            }

            string literal = CSharpLiteral.Float(value);
            Assert.EndsWith("f", literal, StringComparison.Ordinal);
            float back = float.Parse(literal.AsSpan(0, literal.Length - 1), NumberStyles.Float, CultureInfo.InvariantCulture);
            Assert.True(BitConverter.SingleToInt32Bits(back) == BitConverter.SingleToInt32Bits(value) || (value == 0f && back == 0f), $"{value:R} → {literal}");
            Assert.True(literal.Length <= 17, $"{value:R} → {literal}");
        }
    }
}
