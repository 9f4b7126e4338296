using BenchmarkDotNet.Running;

namespace Rwkv7.Gen.Benchmarks;

/// <summary>
/// Runs the benchmarks: <c>dotnet run -c Release --project tests/Rwkv7.Gen.Benchmarks -- --filter *Tokenizer*</c>.
/// They read the shared fixtures (<c>../shared/fixtures</c> beside the repository).
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
