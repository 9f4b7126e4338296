using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Rwkv7.Gen.Generator.Tests.Infrastructure;

namespace Rwkv7.Gen.Generator.Tests.Output;

/// <summary>
/// Two identical builds must write identical files: the output depends on the shape files' content only, not on
/// where they are, the order they arrive in, the machine, the time or the culture.
/// </summary>
public class DeterminismTests
{
    [Theory]
    [MemberData(nameof(ShapeCases.Names), MemberType = typeof(ShapeCases))]
    public void TwoFreshRunsWriteByteIdenticalFiles(string shape)
    {
        GeneratorRun first = GeneratorHarness.Run(ShapeCases.File(shape));
        GeneratorRun second = GeneratorHarness.Run(ShapeCases.File(shape));

        GeneratedSourceResult a = Assert.Single(first.Sources);
        GeneratedSourceResult b = Assert.Single(second.Sources);
        Assert.Equal(a.HintName, b.HintName);
        Assert.Equal(a.SourceText.Encoding?.WebName, b.SourceText.Encoding?.WebName);
        Assert.Equal(a.SourceText.ToString(), b.SourceText.ToString());
        Assert.Equal(Convert.ToHexString(a.SourceText.GetChecksum().AsSpan()), Convert.ToHexString(b.SourceText.GetChecksum().AsSpan()));
    }

    [Theory]
    [MemberData(nameof(ShapeCases.Names), MemberType = typeof(ShapeCases))]
    public void OutputUsesLineFeedsAndHoldsNoPathTimeOrMachineName(string shape)
    {
        string text = Assert.Single(GeneratorHarness.Run(ShapeCases.File(shape)).Sources).SourceText.ToString();

        Assert.DoesNotContain('\r', text);
        Assert.EndsWith("}\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain(ShapeTexts.Directory, text, StringComparison.Ordinal);
        Assert.DoesNotContain("checkout-7f3a9c", text, StringComparison.Ordinal);
        Assert.DoesNotContain(AppContext.BaseDirectory.TrimEnd('/', '\\'), text, StringComparison.Ordinal);
        Assert.DoesNotContain(Environment.CurrentDirectory, text, StringComparison.Ordinal);
        Assert.DoesNotContain(Environment.MachineName, text, StringComparison.Ordinal);
        Assert.DoesNotMatch(new Regex(@"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}:\d{2}:\d{2}\b"), text);
        Assert.DoesNotMatch(new Regex(@"/(home|Users|tmp|work|builds?)/|[A-Za-z]:\\"), text);
    }

    [Fact]
    public void TheSameFileInAnotherDirectoryGivesTheSameOutput()
    {
        string content = ShapeTexts.Fixture("tiny.rwkv7");
        // Paths in this operating system's own form, as the compiler passes them.
        string root = Path.GetPathRoot(AppContext.BaseDirectory)!;
        GeneratorRun here = GeneratorHarness.Run(new InMemoryAdditionalText(Path.Combine(root, "alice", "src", "app", "tiny.rwkv7"), content));
        GeneratorRun there = GeneratorHarness.Run(new InMemoryAdditionalText(Path.Combine(root, "agent-7", "s", "shapes", "tiny.rwkv7"), content));

        Assert.Equal(Assert.Single(here.Sources).SourceText.ToString(), Assert.Single(there.Sources).SourceText.ToString());
    }

    [Fact]
    public void TheOrderFilesArriveInChangesNothing()
    {
        InMemoryAdditionalText[] files =
        [
            .. ShapeCases.All.Select(ShapeCases.File),
            ShapeTexts.File("bad-a.rwkv7", "model = bad-a\nlayers = x\n"),
            ShapeTexts.File("bad-b.rwkv7", ShapeTexts.Released["0.1B"]), // same model as rwkv7-0.1b.rwkv7: RWKV010
        ];
        GeneratorRun forward = GeneratorHarness.Run(files);
        GeneratorRun backward = GeneratorHarness.Run([.. files.Reverse()]);

        Assert.Equal(Render(forward), Render(backward));
        Assert.Equal(Describe(forward.Diagnostics), Describe(backward.Diagnostics));
        Assert.Contains(forward.Diagnostics, d => d.Id == "RWKV010");
    }

    [Fact]
    public void TheCurrentCultureChangesNothing()
    {
        // A culture whose number formatting differs from the invariant one wherever it can (this process runs with
        // invariant globalization, so the culture is built by hand).
        var odd = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        odd.NumberFormat.NegativeSign = "~";
        odd.NumberFormat.NumberDecimalSeparator = ",";
        odd.NumberFormat.NumberGroupSeparator = ".";
        odd.NumberFormat.PositiveSign = "plus";

        string invariant = Render(GeneratorHarness.Run([.. ShapeCases.All.Select(ShapeCases.File)]));
        CultureInfo saved = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = odd;
            Assert.Equal("1,5", 1.5.ToString(CultureInfo.CurrentCulture)); // the culture is in effect
            Assert.Equal(invariant, Render(GeneratorHarness.Run([.. ShapeCases.All.Select(ShapeCases.File)])));
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }

    private static string Render(GeneratorRun run) =>
        string.Join("\n", run.Sources.OrderBy(s => s.HintName, StringComparer.Ordinal).Select(s => $"=== {s.HintName}\n{s.SourceText}"));

    private static string Describe(IEnumerable<Diagnostic> diagnostics) =>
        string.Join("\n", diagnostics.Select(d => d.ToString()));
}
