using System.Runtime.CompilerServices;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Sampling;

/// <summary>
/// The tokens the pip pipeline leaves out of the frequency count: those whose text is a piece of
/// <c>" \t0123456789"</c> (Python's <c>ttt in ' \t0123456789'</c>), such as a space, a tab, <c>"7"</c> or
/// <c>"42"</c>. Computed once per tokenizer.
/// </summary>
internal static class WhitespaceAndDigitTokens
{
    private static readonly ConditionalWeakTable<RwkvTokenizer, bool[]> Cache = [];

    /// <summary>Whether <paramref name="token"/> is exempt from the frequency count.</summary>
    public static bool IsExempt(RwkvTokenizer tokenizer, int token)
    {
        bool[] table = Table(tokenizer);
        return (uint)token < (uint)table.Length && table[token];
    }

    /// <summary>The weight <see cref="Sampler.Accept"/> should record: 0 for exempt tokens when asked, else 1.</summary>
    public static float OccurrenceWeight(RwkvTokenizer tokenizer, int token, SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.ExemptWhitespaceAndDigits && IsExempt(tokenizer, token) ? 0f : 1f;
    }

    /// <summary>The exemption of every id of <paramref name="tokenizer"/> (built on first use, then shared).</summary>
    internal static bool[] Table(RwkvTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return Cache.GetValue(tokenizer, Build);
    }

    private static bool[] Build(RwkvTokenizer tokenizer)
    {
        ReadOnlySpan<byte> pieces = " \t0123456789"u8;
        bool[] table = new bool[tokenizer.VocabularySize];
        for (int id = 0; id < table.Length; id++)
        {
            table[id] = pieces.IndexOf(tokenizer.GetTokenBytes(id)) >= 0; // an empty token is a piece too, as in Python
        }

        return table;
    }
}
