namespace Rwkv7.Gen.Text;

/// <summary>
/// The tokenizer of byte-level models (vocabulary 256, such as the rwkv.cpp test model): token id = byte value of
/// the UTF-8 text. Every byte, 0 included, is a token; there is no end-of-text token.
/// </summary>
public sealed class ByteTokenizer : RwkvTokenizer
{
    /// <summary>The vocabulary size of a byte-level model.</summary>
    public const int ByteVocabularySize = 256;

    private static readonly byte[] AllBytes = CreateAllBytes();

    private ByteTokenizer()
    {
    }

    /// <summary>The one instance (the tokenizer has no state).</summary>
    public static ByteTokenizer Instance { get; } = new();

    /// <inheritdoc />
    public override int VocabularySize => ByteVocabularySize;

    /// <inheritdoc />
    public override ReadOnlySpan<byte> GetTokenBytes(int id)
    {
        if ((uint)id >= ByteVocabularySize)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Byte token ids lie in [0, {ByteVocabularySize}).");
        }

        return AllBytes.AsSpan(id, 1);
    }

    /// <inheritdoc />
    public override int EncodeUtf8(ReadOnlySpan<byte> utf8, Span<int> destination)
    {
        if (destination.Length < utf8.Length)
        {
            throw new ArgumentException($"The destination needs room for {utf8.Length} ids (one per byte).", nameof(destination));
        }

        for (int i = 0; i < utf8.Length; i++)
        {
            destination[i] = utf8[i];
        }

        return utf8.Length;
    }

    private static byte[] CreateAllBytes()
    {
        byte[] all = new byte[ByteVocabularySize];
        for (int i = 0; i < all.Length; i++)
        {
            all[i] = (byte)i;
        }

        return all;
    }
}
