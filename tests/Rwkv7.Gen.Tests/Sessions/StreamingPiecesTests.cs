using System.Text;
using Rwkv7.Gen.Sessions;
using Rwkv7.Gen.Tests.Text;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Tests.Sessions;

/// <summary>The two pieces of streaming text output: UTF-8 reassembly and stop-sequence hold-back.</summary>
public sealed class StreamingPiecesTests
{
    [Theory]
    [InlineData("emoji")]
    [InlineData("supplementary_planes")]
    [InlineData("korean")]
    [InlineData("combining_marks")]
    public void Token_by_token_decoding_never_shows_half_a_character(string caseName)
    {
        TokenizerCase c = WorldTokenizerFixture.Case(caseName);
        WorldTokenizer tokenizer = WorldTokenizerFixture.Tokenizer;
        var decoder = new Utf8StreamDecoder();
        var pieces = new List<string>();
        foreach (int id in c.Ids)
        {
            var sb = new StringBuilder();
            decoder.Append(tokenizer.GetTokenBytes(id), sb);
            pieces.Add(sb.ToString());
        }

        Assert.All(pieces, p => Assert.DoesNotContain('\uFFFD', p));
        Assert.All(pieces, p => Assert.False(p.Length > 0 && char.IsHighSurrogate(p[^1]), "a piece ends with half a surrogate pair"));
        Assert.Equal(Encoding.UTF8.GetString(c.Utf8), string.Concat(pieces));
        Assert.True(decoder.PendingBytes.IsEmpty);
        Assert.Contains(pieces, p => p.Length == 0); // the case really splits a character over tokens
    }

    [Fact]
    public void Bytes_that_can_never_complete_become_replacement_characters_at_once()
    {
        var decoder = new Utf8StreamDecoder();
        var sb = new StringBuilder();
        decoder.Append([0xF0, 0x9F], sb);
        Assert.Equal("", sb.ToString());
        Assert.Equal(2, decoder.PendingBytes.Length);

        decoder.Append("A"u8, sb); // breaks the sequence
        Assert.Equal("\uFFFDA", sb.ToString());

        sb.Clear();
        decoder.Append([0xE4, 0xB8], sb);
        Utf8StreamDecoder copy = decoder.Clone();
        decoder.Append([0xAD], sb);
        Assert.Equal("中", sb.ToString());
        Assert.Equal(2, copy.PendingBytes.Length);

        sb.Clear();
        copy.Flush(sb);
        Assert.Equal("\uFFFD", sb.ToString());
    }

    [Fact]
    public void Stop_matcher_holds_back_a_possible_start_and_drops_the_stop()
    {
        var matcher = new StopSequenceMatcher(["\n\nUser:", "###"]);
        var shown = new StringBuilder();
        Assert.False(matcher.Push("Hello", shown));
        Assert.Equal("Hello", shown.ToString());

        Assert.False(matcher.Push(" world\n", shown));
        Assert.Equal("Hello world", shown.ToString()); // "\n" might start "\n\nUser:"

        Assert.False(matcher.Push("\nUs", shown));
        Assert.Equal("Hello world", shown.ToString());

        Assert.False(matcher.Push("ually #", shown)); // not a stop after all; "#" might start "###"
        Assert.Equal("Hello world\n\nUsually ", shown.ToString());

        Assert.True(matcher.Push("## and more", shown));
        Assert.Equal("Hello world\n\nUsually ", shown.ToString());
        Assert.Equal("###", matcher.Matched);
    }

    [Fact]
    public void Stop_matcher_takes_the_earliest_stop_and_flushes_at_the_end()
    {
        var matcher = new StopSequenceMatcher(["bc", "abcd"]);
        var shown = new StringBuilder();
        Assert.True(matcher.Push("xxabcd", shown)); // "abcd" starts before "bc"
        Assert.Equal("xx", shown.ToString());
        Assert.Equal("abcd", matcher.Matched);

        var later = new StopSequenceMatcher(["abcd", "bc"]);
        shown.Clear();
        Assert.True(later.Push("xxabce", shown));
        Assert.Equal("xxa", shown.ToString());
        Assert.Equal("bc", later.Matched);

        var open = new StopSequenceMatcher(["END"]);
        var text = new StringBuilder();
        Assert.False(open.Push("the EN", text));
        Assert.Equal("the ", text.ToString());
        open.Flush(text);
        Assert.Equal("the EN", text.ToString());
    }
}
