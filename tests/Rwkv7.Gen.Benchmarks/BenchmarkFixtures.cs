using System.Text;
using System.Text.Json;

namespace Rwkv7.Gen.Benchmarks;

/// <summary>Finds the shared fixtures and builds the benchmark texts from them.</summary>
internal static class BenchmarkFixtures
{
    /// <summary>Size of the mixed text the tokenizer benchmarks encode.</summary>
    public const int MixedTextBytes = 4 << 20;

    public static string Path(string relative) => System.IO.Path.Combine(Root, relative);

    public static string VocabularyPath => Path("tokenizer/rwkv_vocab_v20230424.txt");

    /// <summary>
    /// About 4 MB of mixed text: the fixtures README (English prose, tables, formulas), the project's design notes,
    /// and the 25 tokenizer cases (Chinese, Japanese, Korean, Russian, code, JSON, emoji, whitespace runs),
    /// repeated in a fixed order.
    /// </summary>
    public static string MixedText()
    {
        var parts = new List<string>
        {
            File.ReadAllText(Path("README.md")),
            File.ReadAllText(System.IO.Path.Combine(Root, "..", "docs", "DESIGN.md")),
        };
        using (JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Path("tokenizer/world_tokenizer_cases.json"))))
        {
            foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
            {
                parts.Add(c.GetProperty("text").GetString()!);
            }
        }

        var sb = new StringBuilder();
        int bytes = 0;
        while (bytes < MixedTextBytes)
        {
            foreach (string part in parts)
            {
                sb.Append(part).Append("\n\n");
                bytes += Encoding.UTF8.GetByteCount(part) + 2;
            }
        }

        return sb.ToString();
    }

    private static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir, "Rwkv7.Gen.sln")))
        {
            dir = System.IO.Path.GetDirectoryName(dir);
        }

        if (dir is null)
        {
            // BenchmarkDotNet runs a copy from its artifacts folder; fall back to the working directory.
            dir = Directory.GetCurrentDirectory();
            while (dir is not null && !File.Exists(System.IO.Path.Combine(dir, "Rwkv7.Gen.sln")))
            {
                dir = System.IO.Path.GetDirectoryName(dir);
            }
        }

        return System.IO.Path.GetFullPath(System.IO.Path.Combine(
            dir ?? throw new InvalidOperationException("Rwkv7.Gen.sln not found"), "..", "shared", "fixtures"));
    }
}
