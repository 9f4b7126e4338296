namespace Rwkv7.Gen.Text;

/// <summary>
/// Where UTF-8 characters start and end. A token can stop in the middle of a character, so decoding a stream of
/// tokens has to hold back the bytes of a character that is not complete yet.
/// </summary>
internal static class Utf8Boundaries
{
    /// <summary>
    /// The number of bytes (0 to 3) at the end of <paramref name="utf8"/> that begin a multi-byte character and
    /// could still be completed by bytes that follow. Bytes that can never become a valid character (a stray
    /// continuation byte, an overlong or surrogate lead) do not count: a decoder turns them into U+FFFD at once.
    /// </summary>
    public static int IncompleteSuffixLength(ReadOnlySpan<byte> utf8)
    {
        int limit = Math.Min(3, utf8.Length);
        for (int k = 1; k <= limit; k++)
        {
            byte b = utf8[^k];
            if (IsContinuation(b))
            {
                continue; // keep looking back for the lead byte
            }

            int needed = SequenceLength(b);
            if (needed <= k)
            {
                return 0; // an ASCII byte, an invalid lead, or a sequence that is already complete
            }

            return ContinuationsAreValid(b, utf8[^(k - 1)..]) ? k : 0;
        }

        return 0;
    }

    /// <summary>Whether <paramref name="position"/> in well-formed UTF-8 is the start of a character (or the end).</summary>
    public static bool IsCharacterStart(ReadOnlySpan<byte> utf8, int position) =>
        position >= utf8.Length || !IsContinuation(utf8[position]);

    internal static bool IsContinuation(byte b) => (b & 0xC0) == 0x80;

    /// <summary>Bytes in a sequence that starts with <paramref name="lead"/>; 1 for ASCII and for bytes that cannot lead.</summary>
    private static int SequenceLength(byte lead) => lead switch
    {
        >= 0xC2 and <= 0xDF => 2,
        >= 0xE0 and <= 0xEF => 3,
        >= 0xF0 and <= 0xF4 => 4,
        _ => 1,
    };

    /// <summary>Whether the continuation bytes seen so far are allowed after <paramref name="lead"/> (Unicode table 3-7).</summary>
    private static bool ContinuationsAreValid(byte lead, ReadOnlySpan<byte> continuations)
    {
        if (continuations.IsEmpty)
        {
            return true;
        }

        byte second = continuations[0];
        (byte low, byte high) = lead switch
        {
            0xE0 => ((byte)0xA0, (byte)0xBF), // no overlong 3-byte forms
            0xED => ((byte)0x80, (byte)0x9F), // no surrogates
            0xF0 => ((byte)0x90, (byte)0xBF), // no overlong 4-byte forms
            0xF4 => ((byte)0x80, (byte)0x8F), // nothing above U+10FFFF
            _ => ((byte)0x80, (byte)0xBF),
        };
        if (second < low || second > high)
        {
            return false;
        }

        foreach (byte b in continuations[1..])
        {
            if (!IsContinuation(b))
            {
                return false;
            }
        }

        return true;
    }
}
