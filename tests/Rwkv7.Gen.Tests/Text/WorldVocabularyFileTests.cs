using System.Text;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Tests.Text;

/// <summary>Reading vocabulary files: Python literal rules, and a clear error for every kind of bad line.</summary>
public sealed class WorldVocabularyFileTests
{
    private const string Source = "test-vocab.txt";

    [Fact]
    public void String_and_bytes_literals_follow_python_escape_rules()
    {
        // In a string, \x80 is U+0080 (C2 80); in bytes it is the byte 0x80.
        WorldTokenizer t = Load(
            @"300 '\x80' 2",
            @"301 '\u2002' 3",
            @"302 '\n\t\\' 3",
            @"303 ""it's"" 4",
            @"304 '\'q\'' 3",
            @"305 '\d' 2",
            @"306 b'\x80\xff' 2",
            @"307 b'\u12' 4",
            "308 '中文' 6",
            @"309 '\101\0' 2",
            @"310 '\U0001F680' 4");

        Assert.Equal(new byte[] { 0xC2, 0x80 }, t.GetTokenBytes(300).ToArray());
        Assert.Equal(new byte[] { 0xE2, 0x80, 0x82 }, t.GetTokenBytes(301).ToArray());
        Assert.Equal("\n\t\\"u8.ToArray(), t.GetTokenBytes(302).ToArray());
        Assert.Equal("it's"u8.ToArray(), t.GetTokenBytes(303).ToArray());
        Assert.Equal("'q'"u8.ToArray(), t.GetTokenBytes(304).ToArray());
        Assert.Equal(@"\d"u8.ToArray(), t.GetTokenBytes(305).ToArray());     // unknown escape kept
        Assert.Equal(new byte[] { 0x80, 0xFF }, t.GetTokenBytes(306).ToArray());
        Assert.Equal(@"\u12"u8.ToArray(), t.GetTokenBytes(307).ToArray());   // \u means nothing in bytes
        Assert.Equal("中文"u8.ToArray(), t.GetTokenBytes(308).ToArray());
        Assert.Equal(new byte[] { 0x41, 0x00 }, t.GetTokenBytes(309).ToArray());
        Assert.Equal("🚀"u8.ToArray(), t.GetTokenBytes(310).ToArray());

        // Longest match uses them: the two-byte token wins over its single bytes.
        Assert.Equal([300], t.EncodeToIds("\u0080"));
        Assert.Equal([306], t.EncodeUtf8Array([0x80, 0xFF]));
    }

    [Theory]
    [InlineData("300 'ab' 3", "decodes to 2 bytes but the line says 3")]
    [InlineData("300 'ab 2", "not a quoted Python string or bytes literal")]
    [InlineData("300 'a'b' 3", "unescaped ' inside the literal")]
    [InlineData("abc 'ab' 2", "the id must be a number")]
    [InlineData("0 'ab' 2", "0 is reserved")]
    [InlineData("300 'ab' x", "byte length at the end of the line is not a number")]
    [InlineData("300", "expected '<id> <literal> <byte length>'")]
    [InlineData(@"300 '\x8' 1", @"\x needs two hex digits")]
    [InlineData(@"300 '\ud800' 3", "not a Unicode scalar value")]
    [InlineData("300 b'é' 2", "bytes literal holds a non-ASCII character")]
    [InlineData("300 '' 0", "a token must have 1 to")]
    [InlineData("2 'xy' 2", "id 2 is defined twice")]
    [InlineData("301 'a' 1", "ids 98 and 301 have the same bytes")]
    public void A_bad_line_is_reported_with_file_and_line_number(string badLine, string expected)
    {
        RwkvFormatException e = Assert.Throws<RwkvFormatException>(() => Load("300 'ok' 2", badLine));
        Assert.Equal(Source, e.FilePath);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        if (!expected.Contains("same bytes", StringComparison.Ordinal))
        {
            Assert.Contains("line 258:", e.Message, StringComparison.Ordinal); // 256 single bytes, the good line, then the bad one
            Assert.NotNull(e.Offset);
        }
    }

    [Fact]
    public void A_line_that_is_not_utf8_is_reported()
    {
        byte[] file = [.. SingleBytes(), .. "300 '"u8, 0xFF, .. "' 1\n"u8];
        RwkvFormatException e = Assert.Throws<RwkvFormatException>(() => WorldTokenizer.Load(new MemoryStream(file), Source));
        Assert.Contains("line 257: the line is not valid UTF-8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_vocabulary_without_every_single_byte_is_refused()
    {
        string withoutZ = string.Join('\n', SingleByteLines().Where(l => !l.StartsWith($"{'z' + 1} ", StringComparison.Ordinal)));
        RwkvFormatException e = Assert.Throws<RwkvFormatException>(() => WorldTokenizer.Load(new MemoryStream(Encoding.UTF8.GetBytes(withoutZ)), Source));
        Assert.Contains("no token for the single byte 0x7A", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_file_is_refused()
    {
        RwkvFormatException e = Assert.Throws<RwkvFormatException>(() => WorldTokenizer.Load(new MemoryStream(), Source));
        Assert.Contains("no entries", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Windows_line_endings_and_blank_lines_are_accepted()
    {
        string text = string.Join("\r\n", SingleByteLines()) + "\r\n\r\n300 'ab' 2\r\n";
        WorldTokenizer t = WorldTokenizer.Load(new MemoryStream(Encoding.UTF8.GetBytes(text)), Source);
        Assert.Equal([300], t.EncodeToIds("ab"));
        Assert.Equal(257, t.EntryCount);
    }

    [Fact]
    public void Loading_from_a_path_names_the_path_in_errors()
    {
        string path = Path.Combine(Path.GetTempPath(), $"rwkv-vocab-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, "1 'a' 7\n");
        try
        {
            RwkvFormatException e = Assert.Throws<RwkvFormatException>(() => WorldTokenizer.Load(path));
            Assert.Equal(path, e.FilePath);
            Assert.StartsWith(path, e.Message, StringComparison.Ordinal);
            Assert.Contains("line 1:", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>A vocabulary of the 256 single bytes (ids 1 to 256, as in the real file) plus <paramref name="lines"/>.</summary>
    private static WorldTokenizer Load(params string[] lines)
    {
        string text = string.Join('\n', SingleByteLines().Concat(lines)) + "\n";
        return WorldTokenizer.Load(new MemoryStream(Encoding.UTF8.GetBytes(text)), Source);
    }

    private static byte[] SingleBytes() => Encoding.UTF8.GetBytes(string.Join('\n', SingleByteLines()) + "\n");

    private static IEnumerable<string> SingleByteLines()
    {
        for (int b = 0; b < 256; b++)
        {
            yield return $"{b + 1} b'\\x{b:x2}' 1";
        }
    }
}

internal static class RwkvTokenizerTestExtensions
{
    public static int[] EncodeUtf8Array(this RwkvTokenizer tokenizer, byte[] utf8)
    {
        int[] ids = new int[utf8.Length];
        int count = tokenizer.EncodeUtf8(utf8, ids);
        return ids[..count];
    }
}
