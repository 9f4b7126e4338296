using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Tests.Sessions;

/// <summary>
/// A 256-id test tokenizer whose tokens are pieces of multi-byte characters (é, 中, ❤, 🚀 cut at every byte
/// boundary) mixed with ASCII, so whatever the tiny model draws, characters get split across tokens.
/// </summary>
internal sealed class FragmentTokenizer : RwkvTokenizer
{
    private static readonly byte[][] Fragments =
    [
        [0xC3], [0xA9], [0xC3, 0xA9],                    // é
        [0xE4], [0xB8], [0xAD], [0xE4, 0xB8], [0xB8, 0xAD], // 中
        [0xE2, 0x9D], [0xA4],                            // ❤
        [0xF0], [0x9F], [0x9A], [0x80], [0xF0, 0x9F, 0x9A], [0x9F, 0x9A, 0x80], // 🚀
        [0x61], [0x62], [0x20],                          // a b space
    ];

    public override int VocabularySize => 256;

    public override ReadOnlySpan<byte> GetTokenBytes(int id)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(id, 256);
        return Fragments[id % Fragments.Length];
    }

    public override int EncodeUtf8(ReadOnlySpan<byte> utf8, Span<int> destination)
    {
        // Enough for prompts: every byte as the ASCII fragment "a".
        for (int i = 0; i < utf8.Length; i++)
        {
            destination[i] = 16;
        }

        return utf8.Length;
    }
}
