using System.Runtime.CompilerServices;
using Rwkv7.Gen.Generator.Tests.Infrastructure;

namespace Rwkv7.Gen.Generator.Tests.Snapshots;

/// <summary>
/// The snapshot harness must fail when it should: these tests run it in a scratch directory (never on the real
/// baselines) and check each outcome, including that a change to the emitted code is caught.
/// </summary>
public sealed class SnapshotHarnessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rwkv7-snapshots-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void EqualOutputMatches_AndLeavesNoReceivedFile()
    {
        File.WriteAllText(Verified("T.M"), "line 1\nline 2\n");
        File.WriteAllText(Received("T.M"), "stale");

        SnapshotResult result = Snapshot.Check(_dir, "T.M", "line 1\nline 2\n", accept: false);

        Assert.Equal(new SnapshotResult(SnapshotOutcome.Matched, null), result);
        Assert.False(File.Exists(Received("T.M")));
    }

    [Fact]
    public void CrlfInTheVerifiedFileStillMatches()
    {
        File.WriteAllText(Verified("T.M"), "line 1\r\nline 2\r\n");

        Assert.Equal(SnapshotOutcome.Matched, Snapshot.Check(_dir, "T.M", "line 1\nline 2\n", accept: false).Outcome);
    }

    [Fact]
    public void ADifferenceFails_WritesTheReceivedFile_AndNamesTheFirstDifferingLine()
    {
        File.WriteAllText(Verified("T.M"), "a\nb\nc\nd\n");

        SnapshotResult result = Snapshot.Check(_dir, "T.M", "a\nb\nX\nd\n", accept: false);

        Assert.Equal(SnapshotOutcome.Mismatched, result.Outcome);
        Assert.Contains("First difference at line 3: verified lines 3-3 became received lines 3-3", result.Failure, StringComparison.Ordinal);
        Assert.Contains("-     3: c", result.Failure, StringComparison.Ordinal);
        Assert.Contains("+     3: X", result.Failure, StringComparison.Ordinal);
        Assert.Contains(Snapshot.AcceptVariables[0], result.Failure, StringComparison.Ordinal);
        Assert.Equal("a\nb\nX\nd\n", File.ReadAllText(Received("T.M")));
        Assert.Equal("a\nb\nc\nd\n", File.ReadAllText(Verified("T.M")));
    }

    [Fact]
    public void AMissingVerifiedFileFails_AndWritesOnlyTheReceivedFile()
    {
        SnapshotResult result = Snapshot.Check(_dir, "T.M", "new\n", accept: false);

        Assert.Equal(SnapshotOutcome.Missing, result.Outcome);
        Assert.Contains("no verified snapshot", result.Failure, StringComparison.Ordinal);
        Assert.False(File.Exists(Verified("T.M")));
        Assert.Equal("new\n", File.ReadAllText(Received("T.M")));
    }

    [Fact]
    public void AcceptingRewritesTheVerifiedFile_AndRemovesTheReceivedFile()
    {
        File.WriteAllText(Verified("T.M"), "old\n");
        File.WriteAllText(Received("T.M"), "new\n");

        SnapshotResult result = Snapshot.Check(_dir, "T.M", "new\r\n", accept: true);

        Assert.Equal(new SnapshotResult(SnapshotOutcome.Accepted, null), result);
        Assert.Equal("new\n"u8.ToArray(), File.ReadAllBytes(Verified("T.M"))); // \n, no byte order mark
        Assert.False(File.Exists(Received("T.M")));
    }

    [Theory]
    [InlineData("a\nb\nc", "a\nb\nc\nd", "verified lines (none, before line 4) became received lines 4-4")]
    [InlineData("a\nb\nc\nd", "a\nd", "verified lines 2-3 became received lines (none, before line 2)")]
    [InlineData("a\nb\nc", "a\nB\nC", "verified lines 2-3 became received lines 2-3")]
    public void TheSummaryLocatesInsertionsAndDeletions(string expected, string actual, string summary)
    {
        Assert.Contains(summary, Snapshot.Describe(expected, actual), StringComparison.Ordinal);
        Assert.Null(Snapshot.Describe(expected, expected));
    }

    [Fact]
    public void AChangeToTheEmittedKernelsFailsTheRealSnapshot()
    {
        // The real accepted file, copied to the scratch directory; the generator's output with one kernel line changed.
        string name = nameof(GeneratedSourceSnapshotTests) + "." + nameof(GeneratedSourceSnapshotTests.Tiny);
        File.Copy(Path.Combine(SourceDirectory(), name + ".verified.cs"), Verified(name));
        string generated = GeneratedSourceSnapshotTests.Generate("tiny", GeneratedSourceSnapshotTests.TinyHintName);
        Assert.Equal(SnapshotOutcome.Matched, Snapshot.Check(_dir, name, generated, accept: false).Outcome);

        const string original = "acc = Vector512.MultiplyAddEstimate(d, d, acc);";
        int index = generated.IndexOf(original, StringComparison.Ordinal);
        Assert.True(index > 0, "the kernel line to change was not found");
        string tweaked = generated.Remove(index, original.Length).Insert(index, "acc = Vector512.MultiplyAddEstimate(d, d, acc) * 2;");
        int line = generated.AsSpan(0, index).Count('\n') + 1;

        SnapshotResult result = Snapshot.Check(_dir, name, tweaked, accept: false);

        Assert.Equal(SnapshotOutcome.Mismatched, result.Outcome);
        Assert.Contains($"First difference at line {line}: verified lines {line}-{line} became received lines {line}-{line}", result.Failure, StringComparison.Ordinal);
        Assert.Contains("* 2;", result.Failure, StringComparison.Ordinal);
        Assert.Equal(tweaked, File.ReadAllText(Received(name)));
    }

    private static string SourceDirectory([CallerFilePath] string path = "") => Snapshot.DirectoryOf(path);

    private string Verified(string name) => Path.Combine(_dir, name + ".verified.cs");

    private string Received(string name) => Path.Combine(_dir, name + ".received.cs");
}
