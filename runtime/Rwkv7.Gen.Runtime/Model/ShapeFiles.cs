using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen;

/// <summary>A model size read from a shape file (<c>shapes/README.md</c> specifies the format).</summary>
/// <param name="Model">The model name.</param>
/// <param name="TypeName">The type the source generator makes for it.</param>
/// <param name="Shape">The numbers.</param>
public sealed record ShapeDeclaration(string Model, string TypeName, ModelShape Shape);

/// <summary>Reads shape files at run time with the same parser the source generator uses.</summary>
public static class ShapeFiles
{
    /// <summary>Parses shape-file text; every mistake is reported together, each with its line and column.</summary>
    /// <exception cref="RwkvFormatException">The text is not a valid shape file.</exception>
    public static ShapeDeclaration Parse(string text, string fileName)
    {
        ArgumentNullException.ThrowIfNull(text);
        ShapeFile file = ShapeFileParser.Parse(text);
        if (!file.IsValid)
        {
            string errors = string.Join("; ", file.Errors.Select(e => $"line {e.Line + 1}, column {e.Column + 1}: {e.Message}"));
            throw new RwkvFormatException(fileName, $"invalid shape file: {errors}");
        }

        // The parser's numbers (internal, shared with the generator) as the public record: same names, same order.
        ShapeNumbers n = file.Numbers;
        var shape = new ModelShape(n.Layers, n.Embedding, n.HeadSize, n.Vocab, n.Ffn, n.DecayRank, n.IclrRank, n.ValueRank, n.GateRank);
        return new ShapeDeclaration(file.Model, file.TypeName, shape);
    }

    /// <summary>Reads and parses a shape file.</summary>
    public static ShapeDeclaration Load(string path) => Parse(File.ReadAllText(path), path);
}
