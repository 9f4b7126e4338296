using System.Diagnostics;
using Rwkv7.Cli.Tests.Infrastructure;

namespace Rwkv7.Cli.Tests.Commands;

/// <summary>
/// Determinism across processes: the <c>rwkv7</c> program run twice, as two separate processes on the same input,
/// writes the same bytes. Within one process a repeat can reuse what the first run left behind (JIT-compiled code at
/// the same tier, warm caches, a pool already started); a new process starts from nothing, with another address space,
/// other thread timings and its own tiering.
/// </summary>
public sealed class SeparateProcessTests
{
    /// <summary>The 24 bytes of the tiny model's goldens ("Once upon a time, there ").</summary>
    private const string TinyTokens = "79,110,99,101,32,117,112,111,110,32,97,32,116,105,109,101,44,32,116,104,101,114,101,32";

    [Theory]
    [InlineData("tiny-7v0-834K/tiny-rwkv-7v0-834K-FP32.bin", "generated")] // the CLI's generated tiny model
    [InlineData("mh4/rwkv7-mh4-random-bf16.pth", "reference")] // four heads, on the reference engine
    public void Two_processes_write_the_same_logits(string model, string engine)
    {
        using var temp = new TempFolder();
        string[] args = ["logits", "--model", Paths.Fixture(model), "--tokens", TinyTokens, "--all", "--threads", "2"];
        byte[] first = RunForFile([.. args, "--out", temp.File("first.f32")], temp.File("first.f32"), engine);
        byte[] second = RunForFile([.. args, "--out", temp.File("second.f32")], temp.File("second.f32"), engine);

        Assert.True(first.Length > 0 && first.Length % (24 * sizeof(float)) == 0, $"{first.Length} bytes of logits");
        AssertSameBytes(first, second, "logits");
    }

    [Fact]
    public void Two_processes_generate_the_same_text()
    {
        string[] args = ["generate", "--model", Paths.TinyModel, "Once upon a time", "--seed", "7", "--max-tokens", "64", "--threads", "2"];
        ProcessRun first = Run(args);
        ProcessRun second = Run(args);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.NotEmpty(first.Out);
        AssertSameBytes(first.Out, second.Out, "generated text");
    }

    private static byte[] RunForFile(string[] args, string file, string engine)
    {
        ProcessRun run = Run(args);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"({engine}", System.Text.Encoding.UTF8.GetString(run.Out), StringComparison.Ordinal);
        return File.ReadAllBytes(file);
    }

    private static void AssertSameBytes(byte[] first, byte[] second, string what)
    {
        int length = Math.Min(first.Length, second.Length);
        int differ = first.AsSpan(0, length).CommonPrefixLength(second.AsSpan(0, length));
        Assert.True(
            first.Length == second.Length && differ == length,
            $"{what} differ between two processes: {first.Length} and {second.Length} bytes, first difference at byte {differ}");
    }

    /// <summary>Runs the CLI (the <c>rwkv7.dll</c> built beside the tests) in a new process and waits for it.</summary>
    private static ProcessRun Run(string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "rwkv7.dll"));
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        using Process process = Process.Start(start)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var output = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(output);
        process.WaitForExit();
        return new ProcessRun(process.ExitCode, output.ToArray(), error.GetAwaiter().GetResult());
    }

    private sealed record ProcessRun(int ExitCode, byte[] Out, string Error)
    {
        public override string ToString() =>
            $"exit {ExitCode}\n--- stdout ---\n{System.Text.Encoding.UTF8.GetString(Out)}\n--- stderr ---\n{Error}";
    }
}
