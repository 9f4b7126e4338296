using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Rwkv7.Gen.Generator.Tests.Infrastructure;

/// <summary>Assertions on the generator's diagnostics, with positions as users see them (1-based line and column).</summary>
internal static class DiagnosticAssert
{
    /// <summary>
    /// Asserts that the run reported exactly one diagnostic, an error with <paramref name="id"/> at
    /// <paramref name="path"/>(<paramref name="line"/>,<paramref name="column"/>), and returns it. When
    /// <paramref name="file"/> and <paramref name="spanText"/> are given, the diagnostic's span must cover exactly that
    /// text of the file (so offsets agree with line and column).
    /// </summary>
    public static Diagnostic Single(GeneratorRun run, string id, string path, int line, int column, InMemoryAdditionalText? file = null, string? spanText = null)
    {
        Diagnostic d = Assert.Single(run.Diagnostics);
        At(d, id, path, line, column, file, spanText);
        return d;
    }

    /// <summary>Asserts one diagnostic's id, severity, file and 1-based position (and optionally the text its span covers).</summary>
    public static void At(Diagnostic d, string id, string path, int line, int column, InMemoryAdditionalText? file = null, string? spanText = null)
    {
        Assert.Equal(id, d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.True(d.Location.Kind == LocationKind.ExternalFile, $"{d}: expected a location in the shape file, found {d.Location.Kind}");
        FileLinePositionSpan where = d.Location.GetLineSpan();
        Assert.Equal(path, where.Path);
        Assert.Equal((line, column), (where.StartLinePosition.Line + 1, where.StartLinePosition.Character + 1));
        if (file is not null && spanText is not null)
        {
            TextSpan span = d.Location.SourceSpan;
            Assert.Equal(spanText, file.Content.Substring(span.Start, span.Length));
            Assert.Equal(where.StartLinePosition.Line, where.EndLinePosition.Line);
            Assert.Equal(span.Length, where.EndLinePosition.Character - where.StartLinePosition.Character);
        }
    }

    /// <summary>
    /// Asserts that nothing was generated and that the compilation has no errors or warnings of its own: a bad shape
    /// file yields its diagnostics and nothing else (no cascade of compiler errors).
    /// </summary>
    public static void NothingGenerated(GeneratorRun run)
    {
        Assert.Empty(run.Sources);
        Assert.True(run.CompilerDiagnostics.IsEmpty, GeneratorRun.Describe(run.CompilerDiagnostics));
    }
}
