using System.Text;

namespace Rwkv7.Gen.Text;

/// <summary>
/// Turns a stream of token bytes into text without ever producing half a character: the bytes of a character that
/// is not complete yet (at most three) are held until the bytes that complete it arrive. Bytes that can never
/// form a character become U+FFFD at once.
/// </summary>
public sealed class Utf8StreamDecoder
{
    private const int MaxPending = 3;
    private const int StackBytes = 256;

    private readonly byte[] _pending = new byte[MaxPending];
    private int _pendingCount;

    /// <summary>Bytes held back because their character is not complete.</summary>
    public ReadOnlySpan<byte> PendingBytes => _pending.AsSpan(0, _pendingCount);

    /// <summary>Decodes <paramref name="bytes"/> after the held bytes; appends the complete characters to <paramref name="output"/>.</summary>
    /// <returns>The number of characters appended.</returns>
    public int Append(ReadOnlySpan<byte> bytes, StringBuilder output)
    {
        ArgumentNullException.ThrowIfNull(output);
        int total = _pendingCount + bytes.Length;
        Span<byte> joined = total <= StackBytes ? stackalloc byte[StackBytes] : new byte[total];
        joined = joined[..total];
        PendingBytes.CopyTo(joined);
        bytes.CopyTo(joined[_pendingCount..]);

        int hold = Utf8Boundaries.IncompleteSuffixLength(joined);
        ReadOnlySpan<byte> complete = joined[..^hold];
        joined[^hold..].CopyTo(_pending);
        _pendingCount = hold;

        if (complete.IsEmpty)
        {
            return 0;
        }

        int charCount = Encoding.UTF8.GetCharCount(complete);
        Span<char> chars = charCount <= StackBytes ? stackalloc char[StackBytes] : new char[charCount];
        int written = Encoding.UTF8.GetChars(complete, chars);
        output.Append(chars[..written]);
        return written;
    }

    /// <summary>Ends the stream: held bytes (an incomplete character) become U+FFFD in <paramref name="output"/>.</summary>
    public int Flush(StringBuilder output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (_pendingCount == 0)
        {
            return 0;
        }

        string tail = Encoding.UTF8.GetString(PendingBytes);
        _pendingCount = 0;
        output.Append(tail);
        return tail.Length;
    }

    /// <summary>Drops held bytes.</summary>
    public void Reset() => _pendingCount = 0;

    /// <summary>A copy with the same held bytes.</summary>
    public Utf8StreamDecoder Clone()
    {
        var copy = new Utf8StreamDecoder();
        PendingBytes.CopyTo(copy._pending);
        copy._pendingCount = _pendingCount;
        return copy;
    }
}
