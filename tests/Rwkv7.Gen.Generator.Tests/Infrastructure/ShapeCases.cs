namespace Rwkv7.Gen.Generator.Tests.Infrastructure;

/// <summary>The shapes every compile test runs over: the two fixture models and every released size.</summary>
public static class ShapeCases
{
    /// <summary>Names for <see cref="File"/>: "tiny", "mh4", then the released sizes ("0.1B" … "13.3B").</summary>
    public static IReadOnlyList<string> All { get; } = ["tiny", "mh4", .. ShapeTexts.Released.Keys];

    /// <summary><see cref="All"/> as theory data.</summary>
    public static TheoryData<string> Names => [.. All];

    /// <summary>The shape file for a case name, with the file name it would have on disk.</summary>
    internal static InMemoryAdditionalText File(string name) => name switch
    {
        "tiny" or "mh4" => ShapeTexts.File(name + ".rwkv7", ShapeTexts.Fixture(name + ".rwkv7")),
        _ => ShapeTexts.File("rwkv7-" + name.ToLowerInvariant() + ".rwkv7", ShapeTexts.Released[name]),
    };
}
