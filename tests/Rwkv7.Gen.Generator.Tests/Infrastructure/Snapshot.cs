using System.Runtime.CompilerServices;
using System.Text;
using Xunit.Sdk;

namespace Rwkv7.Gen.Generator.Tests.Infrastructure;

/// <summary>
/// Baseline ("snapshot") tests of generated code, following Verify's conventions without depending on it.
/// </summary>
/// <remarks>
/// <para>
/// The accepted output of test method <c>M</c> of class <c>C</c> is the file <c>C.M.verified.cs</c> beside the test's
/// source file (found through <see cref="CallerFilePathAttribute"/>), or <c>C.M.verified.txt</c> for text that is not
/// code (the kernel plans). The project removes <c>*.verified.cs</c> and <c>*.received.cs</c> from compilation, so
/// baselines are plain files a reviewer reads and diffs.
/// </para>
/// <para>
/// When the output differs from the verified file, or there is no verified file yet, the output is written to
/// <c>C.M.received.cs</c> beside it (ignored by git) and the test fails, naming the first lines that differ.
/// </para>
/// <para>
/// To accept new output on purpose, run the tests with the environment variable <c>RWKV7_ACCEPT_SNAPSHOTS=1</c>
/// (Verify's <c>VERIFY_AUTOVERIFY=1</c> works too; <c>true</c> is accepted for either): every snapshot test then
/// rewrites its verified file, deletes its received file and passes. Review the change with <c>git diff</c> and
/// commit it. For example: <c>RWKV7_ACCEPT_SNAPSHOTS=1 dotnet test tests/Rwkv7.Gen.Generator.Tests --filter Snapshot</c>.
/// </para>
/// </remarks>
internal static class Snapshot
{
    /// <summary>The environment variables that switch to accepting (either one).</summary>
    public static readonly string[] AcceptVariables = ["RWKV7_ACCEPT_SNAPSHOTS", "VERIFY_AUTOVERIFY"];

    private const int ShownLines = 6;

    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Compares <paramref name="actual"/> with the calling test's verified file (see the remarks).</summary>
    /// <param name="actual">The text to check.</param>
    /// <param name="testClass">The test class's name (the first part of the file name).</param>
    /// <param name="extension">The snapshot files' extension: <c>cs</c> for generated code, <c>txt</c> for other text.</param>
    /// <param name="testMethod">Filled in by the compiler: the test method's name.</param>
    /// <param name="sourceFile">Filled in by the compiler: the test's source file.</param>
    public static void Verify(
        string actual, string testClass, string extension = "cs", [CallerMemberName] string testMethod = "", [CallerFilePath] string sourceFile = "")
    {
        SnapshotResult result = Check(DirectoryOf(sourceFile), $"{testClass}.{testMethod}", actual, AcceptRequested(), extension);
        if (result.Failure is not null)
        {
            throw new XunitException(result.Failure);
        }
    }

    /// <summary>Whether one of <see cref="AcceptVariables"/> is set to 1 or true.</summary>
    public static bool AcceptRequested() =>
        AcceptVariables.Any(v => Environment.GetEnvironmentVariable(v) is "1" || bool.TryParse(Environment.GetEnvironmentVariable(v), out bool on) && on);

    /// <summary>The directory of a test source file, which must exist (the snapshots live there).</summary>
    public static string DirectoryOf(string sourceFile)
    {
        string? directory = Path.GetDirectoryName(sourceFile);
        if (directory is null || !Directory.Exists(directory))
        {
            throw new XunitException(
                $"The test source directory '{directory}' does not exist, so snapshots cannot be found. Source paths may be mapped " +
                "(DeterministicSourcePaths); the test project turns that off, so check it was not turned back on.");
        }

        return directory;
    }

    /// <summary>
    /// The comparison itself, with the directory and the accept switch as arguments (so tests of the harness need
    /// neither the environment nor real baselines).
    /// </summary>
    public static SnapshotResult Check(string directory, string name, string actual, bool accept, string extension = "cs")
    {
        string verified = Path.Combine(directory, $"{name}.verified.{extension}");
        string received = Path.Combine(directory, $"{name}.received.{extension}");
        actual = NormalizeLineEndings(actual);

        if (accept)
        {
            File.WriteAllText(verified, actual, Utf8NoBom);
            File.Delete(received);
            return new SnapshotResult(SnapshotOutcome.Accepted, null);
        }

        string howToAccept =
            $"Review {received}; to accept it, run the tests with {AcceptVariables[0]}=1 (or rename it to {Path.GetFileName(verified)}).";
        if (!File.Exists(verified))
        {
            File.WriteAllText(received, actual, Utf8NoBom);
            return new SnapshotResult(SnapshotOutcome.Missing, $"{name}: there is no verified snapshot {verified}.\n{howToAccept}");
        }

        string? difference = Describe(NormalizeLineEndings(File.ReadAllText(verified)), actual);
        if (difference is null)
        {
            File.Delete(received);
            return new SnapshotResult(SnapshotOutcome.Matched, null);
        }

        File.WriteAllText(received, actual, Utf8NoBom);
        return new SnapshotResult(SnapshotOutcome.Mismatched, $"{name}: the output differs from {Path.GetFileName(verified)}.\n{difference}\n{howToAccept}");
    }

    /// <summary>
    /// Null when the texts are equal; otherwise a summary of the one block that differs, found by trimming the
    /// lines the two have in common at the start and at the end: its line numbers on each side and its first lines.
    /// </summary>
    public static string? Describe(string expected, string actual)
    {
        if (expected == actual)
        {
            return null;
        }

        string[] e = expected.Split('\n');
        string[] a = actual.Split('\n');
        int start = 0;
        while (start < e.Length && start < a.Length && e[start] == a[start])
        {
            start++;
        }

        int endE = e.Length, endA = a.Length;
        while (endE > start && endA > start && e[endE - 1] == a[endA - 1])
        {
            endE--;
            endA--;
        }

        var sb = new StringBuilder();
        sb.Append($"First difference at line {start + 1}: verified lines {Range(start, endE)} became received lines {Range(start, endA)} ")
          .Append($"(files have {e.Length} and {a.Length} lines).\n");
        AppendLines(sb, "- ", e, start, endE);
        AppendLines(sb, "+ ", a, start, endA);
        return sb.ToString().TrimEnd('\n');
    }

    private static string Range(int start, int end) => end > start ? $"{start + 1}-{end}" : $"(none, before line {start + 1})";

    private static void AppendLines(StringBuilder sb, string prefix, string[] lines, int start, int end)
    {
        for (int i = start; i < end && i < start + ShownLines; i++)
        {
            sb.Append($"{prefix}{i + 1,5}: {lines[i]}\n");
        }

        if (end - start > ShownLines)
        {
            sb.Append($"{prefix}  ... {end - start - ShownLines} more\n");
        }
    }

    private static string NormalizeLineEndings(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal);
}

/// <summary>How a snapshot check ended.</summary>
internal enum SnapshotOutcome
{
    /// <summary>The output equals the verified file.</summary>
    Matched,

    /// <summary>The output differs from the verified file; it was written to the received file.</summary>
    Mismatched,

    /// <summary>There is no verified file; the output was written to the received file.</summary>
    Missing,

    /// <summary>Accepting was requested: the verified file was rewritten.</summary>
    Accepted,
}

/// <summary>The outcome of a snapshot check, and the failure message when it failed.</summary>
internal sealed record SnapshotResult(SnapshotOutcome Outcome, string? Failure);
