using System.Buffers;
using System.Text;

namespace Rwkv7.Gen.Text;

/// <summary>
/// Decodes the Python string and bytes literals of the World vocabulary file into the token's bytes, with
/// Python's escape rules.
/// </summary>
/// <remarks>
/// The difference that matters: in a string literal <c>'\x80'</c> is the code point U+0080, written as the two
/// UTF-8 bytes C2 80; in a bytes literal <c>b'\x80'</c> is the single byte 0x80. Unknown escapes such as
/// <c>'\d'</c> keep their backslash, as in Python.
/// </remarks>
internal static class PythonLiteral
{
    /// <summary>
    /// Appends the bytes <paramref name="literal"/> (UTF-8 source text, already validated) stands for to
    /// <paramref name="output"/>. Returns null on success, else what is wrong.
    /// </summary>
    public static string? TryDecode(ReadOnlySpan<byte> literal, ArrayBufferWriter<byte> output)
    {
        bool isBytes = literal.Length > 0 && (literal[0] == (byte)'b' || literal[0] == (byte)'B');
        ReadOnlySpan<byte> quoted = isBytes ? literal[1..] : literal;
        if (quoted.Length < 2 || (quoted[0] != (byte)'\'' && quoted[0] != (byte)'"') || quoted[^1] != quoted[0])
        {
            return "the token is not a quoted Python string or bytes literal";
        }

        byte quote = quoted[0];
        ReadOnlySpan<byte> body = quoted[1..^1];
        int i = 0;
        while (i < body.Length)
        {
            byte b = body[i];
            if (b == quote)
            {
                return $"unescaped {(char)quote} inside the literal";
            }

            if (b != (byte)'\\')
            {
                if (isBytes && b >= 0x80)
                {
                    return "a bytes literal holds a non-ASCII character";
                }

                Write(output, b);
                i++;
                continue;
            }

            if (i + 1 >= body.Length)
            {
                return "the literal ends with a lone backslash";
            }

            string? error = DecodeEscape(body, ref i, isBytes, output);
            if (error is not null)
            {
                return error;
            }
        }

        return null;
    }

    /// <summary>Decodes the escape that starts at <paramref name="i"/> (a backslash) and moves past it.</summary>
    private static string? DecodeEscape(ReadOnlySpan<byte> body, ref int i, bool isBytes, ArrayBufferWriter<byte> output)
    {
        byte e = body[i + 1];
        i += 2;
        switch ((char)e)
        {
            case '\\': Write(output, (byte)'\\'); return null;
            case '\'': Write(output, (byte)'\''); return null;
            case '"': Write(output, (byte)'"'); return null;
            case 'a': Write(output, 0x07); return null;
            case 'b': Write(output, 0x08); return null;
            case 'f': Write(output, 0x0C); return null;
            case 'n': Write(output, 0x0A); return null;
            case 'r': Write(output, 0x0D); return null;
            case 't': Write(output, 0x09); return null;
            case 'v': Write(output, 0x0B); return null;
            case 'x':
                return ReadHex(body, ref i, 2, out int x) ? WriteValue(output, x, isBytes) : @"\x needs two hex digits";
            case >= '0' and <= '7':
                {
                    int value = e - '0';
                    for (int n = 0; n < 2 && i < body.Length && body[i] >= (byte)'0' && body[i] <= (byte)'7'; n++)
                    {
                        value = (value * 8) + (body[i++] - '0');
                    }

                    return WriteValue(output, value, isBytes);
                }

            case 'u' when !isBytes:
                return ReadHex(body, ref i, 4, out int u) ? WriteValue(output, u, isBytes: false) : @"\u needs four hex digits";
            case 'U' when !isBytes:
                return ReadHex(body, ref i, 8, out int big) ? WriteValue(output, big, isBytes: false) : @"\U needs eight hex digits";
            case 'N' when !isBytes:
                return @"\N{...} escapes are not supported";
            default:
                // Python keeps an unknown escape as written; the character after the backslash is copied next.
                Write(output, (byte)'\\');
                i--;
                return null;
        }
    }

    /// <summary>A byte in a bytes literal; a code point, as UTF-8, in a string literal.</summary>
    private static string? WriteValue(ArrayBufferWriter<byte> output, int value, bool isBytes)
    {
        if (isBytes)
        {
            if (value > 0xFF)
            {
                return $"escape value {value} does not fit in a byte";
            }

            Write(output, (byte)value);
            return null;
        }

        if (!Rune.TryCreate(value, out Rune rune))
        {
            return $"escape value U+{value:X4} is not a Unicode scalar value and has no UTF-8 form";
        }

        Span<byte> utf8 = output.GetSpan(4);
        output.Advance(rune.EncodeToUtf8(utf8));
        return null;
    }

    private static bool ReadHex(ReadOnlySpan<byte> body, ref int i, int digits, out int value)
    {
        value = 0;
        if (i + digits > body.Length)
        {
            return false;
        }

        for (int n = 0; n < digits; n++)
        {
            int d = HexDigit(body[i + n]);
            if (d < 0)
            {
                return false;
            }

            value = (value << 4) | d;
        }

        if (value < 0)
        {
            return false; // eight digits beyond int range: certainly not a code point
        }

        i += digits;
        return true;
    }

    private static int HexDigit(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };

    private static void Write(ArrayBufferWriter<byte> output, byte b)
    {
        output.GetSpan(1)[0] = b;
        output.Advance(1);
    }
}
