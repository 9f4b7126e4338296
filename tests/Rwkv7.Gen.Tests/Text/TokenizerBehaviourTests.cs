using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Tests.Text;

/// <summary>Partial characters, token limits, span decoding and the byte tokenizer.</summary>
public sealed class TokenizerBehaviourTests
{
    private static WorldTokenizer World => WorldTokenizerFixture.Tokenizer;

    [Fact]
    public void A_token_that_ends_inside_a_character_decodes_to_exact_bytes_and_a_replacement_character()
    {
        // "emoji" has tokens that end in the middle of a four-byte character.
        TokenizerCase c = WorldTokenizerFixture.Case("emoji");
        int split = FirstTokenEndingInsideACharacter(c);
        int[] prefix = c.Ids[..(split + 1)];
        byte[] bytes = World.DecodeToUtf8(prefix);

        Assert.Equal(c.Utf8[..bytes.Length], bytes);
        Assert.InRange(Utf8Boundaries.IncompleteSuffixLength(bytes), 1, 3);
        Assert.EndsWith("\uFFFD", World.Decode(prefix), StringComparison.Ordinal);

        // The tokens that follow complete the character: from there on, no replacement character.
        int complete = split + 1;
        while (Utf8Boundaries.IncompleteSuffixLength(World.DecodeToUtf8(c.Ids[..(complete + 1)])) != 0)
        {
            complete++;
        }

        Assert.DoesNotContain('\uFFFD', World.Decode(c.Ids[..(complete + 1)]));
        Assert.Equal(c.Utf8[..World.GetUtf8ByteCount(c.Ids[..(complete + 1)])], World.DecodeToUtf8(c.Ids[..(complete + 1)]));
    }

    [Fact]
    public void Incomplete_suffix_length_follows_the_utf8_rules()
    {
        Assert.Equal(0, Utf8Boundaries.IncompleteSuffixLength([]));
        Assert.Equal(0, Utf8Boundaries.IncompleteSuffixLength("abc"u8));
        Assert.Equal(1, Utf8Boundaries.IncompleteSuffixLength([0x41, 0xF0]));
        Assert.Equal(2, Utf8Boundaries.IncompleteSuffixLength([0xF0, 0x9F]));
        Assert.Equal(3, Utf8Boundaries.IncompleteSuffixLength([0xF0, 0x9F, 0x9A]));
        Assert.Equal(0, Utf8Boundaries.IncompleteSuffixLength([0xF0, 0x9F, 0x9A, 0x80])); // complete
        Assert.Equal(2, Utf8Boundaries.IncompleteSuffixLength([0xE4, 0xB8]));
        Assert.Equal(0, Utf8Boundaries.IncompleteSuffixLength([0x80]));        // stray continuation
        Assert.Equal(0, Utf8Boundaries.IncompleteSuffixLength([0xE0, 0x80]));  // overlong: never valid
        Assert.Equal(0, Utf8Boundaries.IncompleteSuffixLength([0xED, 0xA0]));  // surrogate: never valid
        Assert.Equal(0, Utf8Boundaries.IncompleteSuffixLength([0xF5]));        // not a lead byte
        Assert.Equal(0, Utf8Boundaries.IncompleteSuffixLength([0xC2, 0x41]));  // broken by ASCII
    }

    [Fact]
    public void A_token_limit_never_cuts_a_character_in_two()
    {
        TokenizerCase c = WorldTokenizerFixture.Case("supplementary_planes");
        string text = Encoding.UTF8.GetString(c.Utf8);
        for (int limit = 1; limit <= c.Ids.Length; limit++)
        {
            IReadOnlyList<int> ids = World.EncodeToIds(text, limit, out string? normalized, out int consumed);
            Assert.Null(normalized);
            Assert.InRange(ids.Count, 0, limit);
            Assert.Equal(c.Ids[..ids.Count], ids);

            // The kept tokens are exactly the encoding of the consumed text.
            Assert.Equal(ids, World.EncodeToIds(text[..consumed]));
            if (ids.Count < limit)
            {
                // Only when the next token would end inside a character.
                Assert.NotEqual(0, Utf8Boundaries.IncompleteSuffixLength(World.DecodeToUtf8(c.Ids[..limit])));
            }

            int index = World.GetIndexByTokenCount(text, limit, out _, out int count);
            Assert.Equal(consumed, index);
            Assert.Equal(ids.Count, count);
        }
    }

    [Fact]
    public void Index_from_the_end_gives_a_suffix_that_encodes_to_the_last_tokens()
    {
        TokenizerCase c = WorldTokenizerFixture.Case("emoji");
        string text = Encoding.UTF8.GetString(c.Utf8);
        for (int limit = 1; limit <= c.Ids.Length + 1; limit++)
        {
            int index = World.GetIndexByTokenCountFromEnd(text, limit, out _, out int count);
            Assert.InRange(count, 0, limit);
            Assert.Equal(c.Ids[(c.Ids.Length - count)..], World.EncodeToIds(text[index..]));
        }
    }

    [Fact]
    public void Decoding_into_a_short_span_stops_on_a_character_boundary()
    {
        TokenizerCase c = WorldTokenizerFixture.Case("emoji");
        string text = Encoding.UTF8.GetString(c.Utf8);

        char[] full = new char[text.Length];
        Assert.Equal(OperationStatus.Done, World.Decode(c.Ids, full, out int allIds, out int allChars));
        Assert.Equal(c.Ids.Length, allIds);
        Assert.Equal(text, new string(full, 0, allChars));

        for (int room = 0; room < text.Length; room++)
        {
            char[] destination = new char[room];
            Assert.Equal(OperationStatus.DestinationTooSmall, World.Decode(c.Ids, destination, out int consumed, out int written));
            Assert.Equal(World.Decode(c.Ids[..consumed]), new string(destination, 0, written));
            Assert.DoesNotContain('\uFFFD', new string(destination, 0, written));
        }
    }

    [Fact]
    public void Invalid_ids_are_rejected_when_decoding()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => World.Decode([65_530]));
        Assert.Throws<ArgumentOutOfRangeException>(() => World.Decode([-1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ByteTokenizer.Instance.Decode([256]));
    }

    [Fact]
    public void Lone_surrogates_encode_as_the_replacement_character()
    {
        string text = "a\uD800b";
        Assert.Equal(World.EncodeToIds("a\uFFFDb"), World.EncodeToIds(text));
        IReadOnlyList<EncodedToken> tokens = World.EncodeToTokens(text, out _);
        Assert.Equal(text.Length, tokens[^1].Offset.End.Value);
    }

    [Fact]
    public void Byte_tokenizer_maps_each_byte_to_its_value()
    {
        ByteTokenizer tokenizer = ByteTokenizer.Instance;
        string text = "Once upon a time, é 🚀";
        byte[] utf8 = Encoding.UTF8.GetBytes(text);

        Assert.Equal(utf8.Select(b => (int)b), tokenizer.EncodeToIds(text));
        Assert.Equal(utf8.Length, tokenizer.CountTokens(text));
        Assert.Equal(text, tokenizer.Decode(utf8.Select(b => (int)b)));
        Assert.Null(tokenizer.EndOfTextId);
        Assert.Equal(new byte[] { 0 }, tokenizer.GetTokenBytes(0).ToArray());
        Assert.Equal([0, 255], tokenizer.DecodeToUtf8([0, 255]).Select(b => (int)b));

        // Offsets: the four bytes of the rocket are four tokens; the first owns both UTF-16 chars.
        IReadOnlyList<EncodedToken> tokens = tokenizer.EncodeToTokens(text, out _);
        Assert.Equal(new Range(text.Length - 2, text.Length), tokens[^4].Offset);
        Assert.Equal(tokens[^1].Offset.Start, tokens[^1].Offset.End);
    }

    [Fact]
    public void Factory_picks_the_byte_tokenizer_for_a_byte_level_model()
    {
        ModelShape tiny = new(12, 64, 64, 256, 256, 32, 32, 32, 32);
        Assert.Same(ByteTokenizer.Instance, RwkvTokenizers.ForModel(tiny));

        ModelShape world = tiny with { Vocab = 65_536 };
        ArgumentException missing = Assert.Throws<ArgumentException>(() => RwkvTokenizers.ForModel(world));
        Assert.Contains(WorldTokenizer.VocabularyFileName, missing.Message, StringComparison.Ordinal);

        RwkvTokenizer picked = RwkvTokenizers.ForModel(world, Infrastructure.Fixtures.Path(WorldTokenizerFixture.VocabularyPath));
        Assert.IsType<WorldTokenizer>(picked);

        // A vocabulary with more ids than the model has logits does not fit.
        Assert.Throws<RwkvException>(() => RwkvTokenizers.ForModel(tiny with { Vocab = 512 }, Infrastructure.Fixtures.Path(WorldTokenizerFixture.VocabularyPath)));
    }

    private static int FirstTokenEndingInsideACharacter(TokenizerCase c)
    {
        int end = 0;
        for (int i = 0; i < c.TokenBytes.Length; i++)
        {
            end += c.TokenBytes[i].Length;
            if (end < c.Utf8.Length && (c.Utf8[end] & 0xC0) == 0x80)
            {
                return i;
            }
        }

        throw new InvalidOperationException($"Case {c.Name} has no token that ends inside a character.");
    }
}
