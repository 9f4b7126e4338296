using System.Text.Json;
using Rwkv7.Cli.Tests.Infrastructure;

namespace Rwkv7.Cli.Tests.Commands;

public sealed class TokenizeCommandTests
{
    [Fact]
    public void Piped_bytes_give_the_World_ids_of_every_reference_case()
    {
        using JsonDocument cases = JsonDocument.Parse(File.ReadAllBytes(Paths.Fixture("tokenizer/world_tokenizer_cases.json")));
        int checkedCases = 0;
        foreach (JsonElement c in cases.RootElement.GetProperty("cases").EnumerateArray())
        {
            byte[] utf8 = Convert.FromHexString(c.GetProperty("utf8_hex").GetString()!);
            string expected = string.Join(' ', c.GetProperty("ids").EnumerateArray().Select(id => id.GetInt32()));
            CliResult r = TestCli.Run(["tokenize", "--vocab", Paths.WorldVocabulary], utf8);
            Assert.True(r.ExitCode == 0, $"{c.GetProperty("name")}: {r}");
            Assert.Equal(expected + "\n", r.Out);
            checkedCases++;
        }

        Assert.True(checkedCases >= 20, $"only {checkedCases} cases");
    }

    [Fact]
    public void The_vocabulary_may_come_from_RWKV7_VOCAB()
    {
        CliResult r = TestCli.Run(["tokenize", "Hello, world!"], stdin: (byte[]?)null, new Dictionary<string, string> { ["RWKV7_VOCAB"] = Paths.WorldVocabulary });
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("33155 45 40213 34\n", r.Out);
    }

    [Fact]
    public void Pieces_show_each_token_quoted_with_partial_characters_in_hex()
    {
        CliResult r = TestCli.Run(["tokenize", "--bytes", "--pieces"], "a\t\u00e9\"");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("97\t\"a\"\n9\t\"\\t\"\n195\t\"\\xC3\"\n169\t\"\\xA9\"\n34\t\"\\\"\"\n", r.Out);

        CliResult world = TestCli.Run(["tokenize", "--vocab", Paths.WorldVocabulary, "--pieces"], "Hello world\n");
        Assert.Equal("33155\t\"Hello\"\n40213\t\" world\"\n11\t\"\\n\"\n", world.Out);
    }

    [Fact]
    public void Without_a_vocabulary_or_with_two_it_is_a_usage_error()
    {
        CliResult none = TestCli.Run(["tokenize"], "text");
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("tokenize needs --vocab FILE", none.Error, StringComparison.Ordinal);

        CliResult both = TestCli.Run(["tokenize", "--bytes", "--vocab", Paths.WorldVocabulary], "text");
        Assert.Equal(2, both.ExitCode);

        CliResult missing = TestCli.Run(["tokenize", "--vocab", "/no/such/vocab.txt"], "text");
        Assert.Equal(1, missing.ExitCode);
        Assert.Single(missing.ErrorLines);
        Assert.Contains("/no/such/vocab.txt", missing.Error, StringComparison.Ordinal);
    }
}
