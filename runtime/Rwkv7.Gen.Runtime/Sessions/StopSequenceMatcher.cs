using System.Text;

namespace Rwkv7.Gen.Sessions;

/// <summary>
/// Finds stop sequences in generated text as it arrives, and says how much text is safe to show: everything
/// except a tail that could still become the start of a stop sequence. Text is never shown and then taken back,
/// and the stop sequence itself is never shown.
/// </summary>
/// <remarks>
/// Because the longest tail that is a prefix of some stop sequence is always held back, a stop sequence can only
/// begin inside the held text, so only that needs searching.
/// </remarks>
internal sealed class StopSequenceMatcher
{
    private readonly string[] _stops;
    private readonly StringBuilder _held = new();

    public StopSequenceMatcher(IReadOnlyList<string> stops)
    {
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
        _held.Append(text);
        if (_stops.Length == 0)
        {
            Flush(output);
            return false;
        }

        string held = _held.ToString();
        int first = -1;
        foreach (string stop in _stops)
        {
            int at = held.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
            {
                first = at;
                Matched = stop;
            }
        }

        if (first >= 0)
        {
            output.Append(held.AsSpan(0, first));
            _held.Clear();
            return true;
        }

        int keep = LongestTailThatStartsAStop(held);
        output.Append(held.AsSpan(0, held.Length - keep));
        _held.Remove(0, held.Length - keep);
        return false;
    }

    /// <summary>Appends the held text (the generation ended without a stop sequence).</summary>
    public void Flush(StringBuilder output)
    {
        output.Append(_held);
        _held.Clear();
    }

    private int LongestTailThatStartsAStop(string text)
    {
        int best = 0;
        foreach (string stop in _stops)
        {
            for (int length = Math.Min(stop.Length - 1, text.Length); length > best; length--)
            {
                if (text.AsSpan(text.Length - length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    best = length;
                    break;
                }
            }
        }

        return best;
    }
}
