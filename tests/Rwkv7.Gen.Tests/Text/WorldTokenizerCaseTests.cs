using System.Text;
using Microsoft.ML.Tokenizers;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Tests.Text;

/// <summary>Every case of world_tokenizer_cases.json, through every encode and decode entry point.</summary>
public sealed class WorldTokenizerCaseTests
{
    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (TokenizerCase c in WorldTokenizerFixture.Cases)
        {
            data.Add(c.Name);
        }

        return data;
    }

    [Fact]
    public void The_vocabulary_has_the_documented_size()
    {
        WorldTokenizer tokenizer = WorldTokenizerFixture.Tokenizer;
        Assert.Equal(65_529, tokenizer.EntryCount);
        Assert.Equal(65_530, tokenizer.VocabularySize);
        Assert.Equal(0, tokenizer.EndOfTextId);
        Assert.True(tokenizer.GetTokenBytes(0).IsEmpty);
        Assert.Equal(25, WorldTokenizerFixture.Cases.Count);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Utf8_input_encodes_to_the_expected_ids_and_token_bytes(string name)
    {
        TokenizerCase c = WorldTokenizerFixture.Case(name);
        WorldTokenizer tokenizer = WorldTokenizerFixture.Tokenizer;

        int[] ids = new int[Math.Max(1, c.Utf8.Length)];
        int count = tokenizer.EncodeUtf8(c.Utf8, ids);

        Assert.Equal(c.Ids, ids[..count]);
        Assert.Equal(c.TokenBytes.Length, count);
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(c.TokenBytes[i], tokenizer.GetTokenBytes(ids[i]).ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Decoding_gives_back_the_exact_bytes_and_text(string name)
    {
        TokenizerCase c = WorldTokenizerFixture.Case(name);
        WorldTokenizer tokenizer = WorldTokenizerFixture.Tokenizer;
        string text = StrictUtf8(c.Utf8);

        Assert.Equal(c.Utf8, tokenizer.DecodeToUtf8(c.Ids));
        Assert.Equal(c.Utf8.Length, tokenizer.GetUtf8ByteCount(c.Ids));
        Assert.Equal(text, tokenizer.Decode(c.Ids));
        Assert.Equal(text, tokenizer.Decode(c.Ids.ToList()));
        Assert.Equal(text, tokenizer.DecodeToString(c.Ids));
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void String_entry_points_agree_with_the_byte_level_encoder(string name)
    {
        TokenizerCase c = WorldTokenizerFixture.Case(name);
        Tokenizer tokenizer = WorldTokenizerFixture.Tokenizer;
        string text = StrictUtf8(c.Utf8);

        Assert.Equal(c.Ids, tokenizer.EncodeToIds(text));
        Assert.Equal(c.Ids, tokenizer.EncodeToIds(text.AsSpan()));
        Assert.Equal(c.Ids, WorldTokenizerFixture.Tokenizer.EncodeToIdArray(text));
        Assert.Equal(c.Ids.Length, tokenizer.CountTokens(text));
        Assert.Equal(c.Ids, tokenizer.EncodeToTokens(text, out string? normalized).Select(t => t.Id));
        Assert.Null(normalized);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Offsets_tile_the_text_and_match_whole_character_tokens(string name)
    {
        TokenizerCase c = WorldTokenizerFixture.Case(name);
        WorldTokenizer tokenizer = WorldTokenizerFixture.Tokenizer;
        string text = StrictUtf8(c.Utf8);

        IReadOnlyList<EncodedToken> tokens = tokenizer.EncodeToTokens(text, out _);

        int expectedStart = 0, byteStart = 0;
        foreach (EncodedToken token in tokens)
        {
            (int start, int length) = token.Offset.GetOffsetAndLength(text.Length);
            Assert.Equal(expectedStart, start);
            expectedStart = start + length;

            // Where a token holds whole characters, its range is exactly those characters.
            byte[] bytes = tokenizer.GetTokenBytes(token.Id).ToArray();
            int before = Encoding.UTF8.GetByteCount(text.AsSpan(0, start));
            if (before == byteStart && Encoding.UTF8.GetByteCount(text.AsSpan(0, start + length)) == byteStart + bytes.Length)
            {
                Assert.Equal(bytes, Encoding.UTF8.GetBytes(text.Substring(start, length)));
            }

            Assert.Equal(Encoding.UTF8.GetString(bytes), token.Value);
            byteStart += bytes.Length;
        }

        Assert.Equal(text.Length, expectedStart);
    }

    private static string StrictUtf8(byte[] bytes) => new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
}
