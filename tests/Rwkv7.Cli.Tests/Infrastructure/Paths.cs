namespace Rwkv7.Cli.Tests.Infrastructure;

/// <summary>The shared fixtures (<c>../shared/fixtures</c> beside the repository) the tests read.</summary>
internal static class Paths
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string Fixtures { get; } = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "fixtures"));

    /// <summary>rwkv.cpp's tiny byte-level model (L12 D64 V256), FP32.</summary>
    public static string TinyModel => Fixture("tiny-7v0-834K/tiny-rwkv-7v0-834K-FP32.bin");

    /// <summary>rwkv.cpp's expected logits after feeding 34, 105, 110 to the tiny model.</summary>
    public static string TinyExpectedLogits => Fixture("tiny-7v0-834K/expected-logits-7v0-834K.bin");

    /// <summary>The World vocabulary.</summary>
    public static string WorldVocabulary => Fixture("tokenizer/rwkv_vocab_v20230424.txt");

    public static string Fixture(string relative)
    {
        string path = Path.Combine(Fixtures, relative);
        return File.Exists(path) ? path : throw new FileNotFoundException($"Fixture missing: {path} (the tests expect ../shared beside the repository).");
    }

    private static string FindRepositoryRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Rwkv7.Gen.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException($"Rwkv7.Gen.sln not found above {AppContext.BaseDirectory}.");
    }
}

/// <summary>A folder under the system temp folder, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(FullPath);

    public string FullPath { get; } = Path.Combine(Path.GetTempPath(), "rwkv7-cli-tests-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => Path.Combine(FullPath, name);

    public void Dispose() => Directory.Delete(FullPath, recursive: true);
}
