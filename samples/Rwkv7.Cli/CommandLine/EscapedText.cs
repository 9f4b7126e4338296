using System.Buffers;
using System.Globalization;
using System.Text;

namespace Rwkv7.Cli.CommandLine;

/// <summary>
/// Backslash escapes, both ways: tokens' bytes shown readably (<c>rwkv7 tokenize --pieces</c>) and stop texts
/// typed on a command line (<c>--stop '\n\n'</c>).
/// </summary>
internal static class EscapedText
{
    /// <summary>
    /// Shows bytes as a double-quoted string: complete UTF-8 characters as themselves, <c>\n \r \t \" \\</c>
    /// escaped, other control, format, separator and unassigned characters as <c>\uXXXX</c> (or <c>\UXXXXXXXX</c>),
    /// and bytes that are not part of a complete character (a token may hold half of one) as <c>\xHH</c>.
    /// </summary>
    public static string Quote(ReadOnlySpan<byte> utf8)
    {
        var sb = new StringBuilder(utf8.Length + 2);
        sb.Append('"');
        int i = 0;
        while (i < utf8.Length)
        {
            if (Rune.DecodeFromUtf8(utf8[i..], out Rune rune, out int consumed) != OperationStatus.Done)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\x{utf8[i]:X2}");
                i++;
                continue;
            }

            AppendRune(sb, rune);
            i += consumed;
        }

        sb.Append('"');
        return sb.ToString();
    }

    /// <summary>Reads <c>\n \r \t \\ \0</c> in <paramref name="text"/>; any other backslash sequence is an error.</summary>
    /// <exception cref="FormatException">An unknown escape, or a backslash at the end.</exception>
    public static string Unescape(string text)
    {
        if (!text.Contains('\\', StringComparison.Ordinal))
        {
            return text;
        }

        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                sb.Append(text[i]);
                continue;
            }

            if (++i == text.Length)
            {
                throw new FormatException($"'{text}' ends with a lone backslash (write \\\\ for a backslash)");
            }

            sb.Append(text[i] switch
            {
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                '0' => '\0',
                '\\' => '\\',
                char other => throw new FormatException($"'{text}' has the unknown escape \\{other} (known: \\n \\r \\t \\0 \\\\)"),
            });
        }

        return sb.ToString();
    }

    private static void AppendRune(StringBuilder sb, Rune rune)
    {
        switch (rune.Value)
        {
            case '\n': sb.Append("\\n"); return;
            case '\r': sb.Append("\\r"); return;
            case '\t': sb.Append("\\t"); return;
            case '"': sb.Append("\\\""); return;
            case '\\': sb.Append("\\\\"); return;
            case ' ': sb.Append(' '); return;
        }

        if (IsInvisible(Rune.GetUnicodeCategory(rune)))
        {
            sb.Append(rune.IsBmp
                ? string.Create(CultureInfo.InvariantCulture, $"\\u{rune.Value:X4}")
                : string.Create(CultureInfo.InvariantCulture, $"\\U{rune.Value:X8}"));
            return;
        }

        sb.Append(rune.ToString());
    }

    /// <summary>Characters that print as nothing, or as something that looks like another character.</summary>
    private static bool IsInvisible(UnicodeCategory category) => category
        is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.SpaceSeparator
        or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
        or UnicodeCategory.OtherNotAssigned or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate;
}
