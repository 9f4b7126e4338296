using System.Globalization;

namespace Rwkv7.Gen.Generator.Tests.Infrastructure;

/// <summary>Shape files the tests feed the generator: the fixture models' files, the released sizes, and a builder.</summary>
internal static class ShapeTexts
{
    /// <summary>
    /// A made-up checkout directory for the in-memory shape files. It is absolute and distinctive, so a test can tell
    /// whether any of it leaks into generated code.
    /// </summary>
    public const string Directory = "/home/builder/checkout-7f3a9c/shapes";

    /// <summary>Vocabulary of every released RWKV-7 model.</summary>
    public const int ReleasedVocab = 65536;

    /// <summary>The path an in-memory shape file named <paramref name="fileName"/> gets.</summary>
    public static string PathOf(string fileName) => Directory + "/" + fileName;

    /// <summary>An in-memory shape file at <see cref="PathOf"/>.</summary>
    public static InMemoryAdditionalText File(string fileName, string text) => new(PathOf(fileName), text);

    /// <summary>
    /// The text of a valid shape file: every key, one per line, aligned as in the repository's files;
    /// <paramref name="type"/> and <paramref name="ns"/> are written only when given. By default every width is 64,
    /// which generates the least code (one input width), so tests that compile it stay quick.
    /// </summary>
    public static string Valid(
        string model = "test-model",
        int layers = 2,
        int embedding = 64,
        int vocab = 256,
        int ffn = 64,
        int decayRank = 64,
        int iclrRank = 64,
        int valueRank = 64,
        int gateRank = 64,
        string? type = null,
        string? ns = null)
    {
        var lines = new List<string> { "# written by the generator tests", $"model      = {model}" };
        if (type is not null)
        {
            lines.Add($"type       = {type}");
        }

        if (ns is not null)
        {
            lines.Add($"namespace  = {ns}");
        }

        lines.Add($"layers     = {Int(layers)}");
        lines.Add($"embedding  = {Int(embedding)}");
        lines.Add("head_size  = 64");
        lines.Add($"vocab      = {Int(vocab)}");
        lines.Add($"ffn        = {Int(ffn)}");
        lines.Add($"decay_rank = {Int(decayRank)}");
        lines.Add($"iclr_rank  = {Int(iclrRank)}");
        lines.Add($"value_rank = {Int(valueRank)}");
        lines.Add($"gate_rank  = {Int(gateRank)}");
        return string.Join("\n", lines) + "\n";
    }

    /// <summary>The released sizes (DESIGN.md's table): name → shape file text. FFN is 4·D for all of them.</summary>
    public static IReadOnlyDictionary<string, string> Released { get; } = new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["0.1B"] = Release("rwkv7-0.1b", 12, 768, 64, 32, 128),
        ["0.4B"] = Release("rwkv7-0.4b", 24, 1024, 64, 32, 128),
        ["1.5B"] = Release("rwkv7-1.5b", 24, 2048, 96, 64, 256),
        ["2.9B"] = Release("rwkv7-2.9b", 32, 2560, 96, 64, 320),
        ["7.2B"] = Release("rwkv7-7.2b", 32, 4096, 128, 96, 480),
        ["13.3B"] = Release("rwkv7-13.3b", 61, 4096, 192, 128, 384),
    };

    /// <summary>The fixture models' shape files, as the numeric tests use them (copied beside the test assembly).</summary>
    public static string Fixture(string fileName) =>
        System.IO.File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Shapes", fileName));

    /// <summary>The two fixture shape files.</summary>
    public static IReadOnlyList<string> FixtureFiles { get; } = ["tiny.rwkv7", "mh4.rwkv7"];

    private static string Release(string model, int layers, int embedding, int decayIclrRank, int valueRank, int gateRank) =>
        Valid(model, layers, embedding, ReleasedVocab, 4 * embedding, decayIclrRank, decayIclrRank, valueRank, gateRank);

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);
}
