using System.Text;

namespace Rwkv7.Gen.Sessions;

/// <summary>
/// Finds stop sequences in generated text as it arrives, and says how much text is safe to show: everything
/// except a tail that could still become the start of a stop sequence. Text is never shown and then taken back,
/// and the stop sequence itself is never shown.
/// </summary>
/// <remarks>
/// Because the longest tail that is a prefix of some stop sequence is always held back, a stop sequence can only
/// begin inside the held text, so only that needs searching. The held text lives in a reused buffer: pushing
/// allocates nothing once the buffer has grown to the longest stop sequence plus a token's text. Used by
/// <see cref="RwkvSession"/> and by servers that run their own decode loop.
/// </remarks>
public sealed class StopSequenceMatcher
{
    private readonly string[] _stops;
    private char[] _held = new char[64];
    private int _length;

    /// <summary>Watches for <paramref name="stops"/> (non-empty strings; none means every piece passes through).</summary>
    public StopSequenceMatcher(IReadOnlyList<string> stops)
    {
        ArgumentNullException.ThrowIfNull(stops);
        _stops = [.. stops];
    }

    /// <summary>The stop sequence found, once one is.</summary>
    public string? Matched { get; private set; }

    /// <summary>
    /// Adds <paramref name="text"/> and appends what is now safe to <paramref name="output"/>. Returns true when a
    /// stop sequence was found: the text before it has been appended, the rest is dropped.
    /// </summary>
    public bool Push(ReadOnlySpan<char> text, StringBuilder output)
    {
        if (_stops.Length == 0)
        {
            output.Append(text);
            return false;
        }

        Hold(text);
        ReadOnlySpan<char> held = _held.AsSpan(0, _length);
        int first = -1;
        foreach (string stop in _stops)
        {
            int at = held.IndexOf(stop.AsSpan(), StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
            {
                first = at;
                Matched = stop;
            }
        }

        if (first >= 0)
        {
            output.Append(held[..first]);
            _length = 0;
            return true;
        }

        int keep = LongestTailThatStartsAStop(held);
        output.Append(held[..^keep]);
        held[^keep..].CopyTo(_held);
        _length = keep;
        return false;
    }

    /// <summary>Appends the held text (the generation ended without a stop sequence).</summary>
    public void Flush(StringBuilder output)
    {
        output.Append(_held, 0, _length);
        _length = 0;
    }

    private void Hold(ReadOnlySpan<char> text)
    {
        if (_length + text.Length > _held.Length)
        {
            Array.Resize(ref _held, Math.Max(_held.Length * 2, _length + text.Length));
        }

        text.CopyTo(_held.AsSpan(_length));
        _length += text.Length;
    }

    private int LongestTailThatStartsAStop(ReadOnlySpan<char> text)
    {
        int best = 0;
        foreach (string stop in _stops)
        {
            for (int length = Math.Min(stop.Length - 1, text.Length); length > best; length--)
            {
                if (text[^length..].SequenceEqual(stop.AsSpan(0, length)))
                {
                    best = length;
                    break;
                }
            }
        }

        return best;
    }
}
