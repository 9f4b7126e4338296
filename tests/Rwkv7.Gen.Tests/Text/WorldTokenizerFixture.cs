using System.Text.Json;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Tests.Text;

/// <summary>The shared World vocabulary (read from the fixtures, never copied) and its test cases.</summary>
public static class WorldTokenizerFixture
{
    public const string VocabularyPath = "tokenizer/rwkv_vocab_v20230424.txt";
    public const string CasesPath = "tokenizer/world_tokenizer_cases.json";

    private static readonly Lazy<WorldTokenizer> Shared = new(() => WorldTokenizer.Load(Fixtures.Path(VocabularyPath)));
    private static readonly Lazy<IReadOnlyList<TokenizerCase>> SharedCases = new(ReadCases);

    public static WorldTokenizer Tokenizer => Shared.Value;

    public static IReadOnlyList<TokenizerCase> Cases => SharedCases.Value;

    public static TokenizerCase Case(string name) => Cases.Single(c => c.Name == name);

    private static IReadOnlyList<TokenizerCase> ReadCases()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Fixtures.Path(CasesPath)));
        var cases = new List<TokenizerCase>();
        foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            cases.Add(new TokenizerCase(
                c.GetProperty("name").GetString()!,
                Convert.FromHexString(c.GetProperty("utf8_hex").GetString()!),
                c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.GetProperty("token_bytes_hex").EnumerateArray().Select(e => Convert.FromHexString(e.GetString()!)).ToArray()));
        }

        return cases;
    }
}

/// <summary>One case of world_tokenizer_cases.json.</summary>
public sealed record TokenizerCase(string Name, byte[] Utf8, int[] Ids, byte[][] TokenBytes)
{
    public override string ToString() => Name;
}
