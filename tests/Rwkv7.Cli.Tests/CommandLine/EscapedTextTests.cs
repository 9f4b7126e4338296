using System.Text;
using Rwkv7.Cli.CommandLine;

namespace Rwkv7.Cli.Tests.CommandLine;

public sealed class EscapedTextTests
{
    [Theory]
    [InlineData("Hello", "\"Hello\"")]
    [InlineData(" world", "\" world\"")]
    [InlineData("a\nb\r\tc", "\"a\\nb\\r\\tc\"")]
    [InlineData("say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\"")]
    [InlineData("中文", "\"中文\"")]
    [InlineData("🚀", "\"🚀\"")]
    [InlineData("\u0000\u001f\u007f", "\"\\u0000\\u001F\\u007F\"")]
    [InlineData("no\u00a0break", "\"no\\u00A0break\"")]
    [InlineData("\ufeffzero\u200bwidth", "\"\\uFEFFzero\\u200Bwidth\"")]
    [InlineData("\U000E0001", "\"\\U000E0001\"")]
    public void Characters_show_as_themselves_unless_they_are_invisible(string text, string expected) =>
        Assert.Equal(expected, EscapedText.Quote(Encoding.UTF8.GetBytes(text)));

    [Fact]
    public void Bytes_that_do_not_complete_a_character_show_as_hex()
    {
        byte[] zhong = Encoding.UTF8.GetBytes("中"); // E4 B8 AD
        Assert.Equal("\"\\xE4\\xB8\"", EscapedText.Quote(zhong.AsSpan(0, 2)));
        Assert.Equal("\"\\xAD\"", EscapedText.Quote(zhong.AsSpan(2)));
        Assert.Equal("\"a\\xFFb\"", EscapedText.Quote([(byte)'a', 0xFF, (byte)'b']));
        Assert.Equal("\"\"", EscapedText.Quote([]));
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("\\n\\n", "\n\n")]
    [InlineData("User:\\t\\r\\0", "User:\t\r\0")]
    [InlineData("back\\\\slash\\\\n", "back\\slash\\n")]
    public void Stop_texts_understand_a_few_escapes(string typed, string expected) =>
        Assert.Equal(expected, EscapedText.Unescape(typed));

    [Theory]
    [InlineData("\\q", "unknown escape \\q")]
    [InlineData("end\\", "lone backslash")]
    public void Unknown_escapes_are_errors(string typed, string message) =>
        Assert.Contains(message, Assert.Throws<FormatException>(() => EscapedText.Unescape(typed)).Message, StringComparison.Ordinal);
}
