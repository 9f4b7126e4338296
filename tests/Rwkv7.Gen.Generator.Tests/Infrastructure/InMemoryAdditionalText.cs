using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Rwkv7.Gen.Generator.Tests.Infrastructure;

/// <summary>An AdditionalFiles item held in memory: what the compiler hands the generator for a shape file.</summary>
internal sealed class InMemoryAdditionalText : AdditionalText
{
    private readonly SourceText _text;

    public InMemoryAdditionalText(string path, string text)
    {
        Path = path;
        _text = SourceText.From(text, Encoding.UTF8);
    }

    /// <inheritdoc/>
    public override string Path { get; }

    /// <summary>The file's content as a string.</summary>
    public string Content => _text.ToString();

    /// <inheritdoc/>
    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;

    /// <summary>A new item with the same path and other content (as an edit in the IDE produces).</summary>
    public InMemoryAdditionalText WithText(string text) => new(Path, text);

    /// <inheritdoc/>
    public override string ToString() => Path;
}
