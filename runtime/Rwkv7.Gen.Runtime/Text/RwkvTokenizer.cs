using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Rwkv7.Gen.Text;

/// <summary>
/// Base of the RWKV tokenizers. Both work on UTF-8 bytes: the text is converted to UTF-8 (a lone surrogate becomes
/// U+FFFD), then cut into tokens, with no normalization, no pre-tokenization and no special tokens. Decoding
/// concatenates the tokens' bytes.
/// </summary>
/// <remarks>
/// <para>A token may end in the middle of a UTF-8 character. The byte-level members
/// (<see cref="GetTokenBytes"/>, <see cref="DecodeToUtf8(ReadOnlySpan{int})"/>) give the exact bytes;
/// <see cref="Tokenizer.Decode(IEnumerable{int})"/> turns incomplete characters into U+FFFD.</para>
/// <para>Offsets reported by <see cref="Tokenizer.EncodeToTokens(string, out string?, bool, bool)"/> are in UTF-16
/// characters of the input. Each character belongs to the token that holds its first byte, so the ranges tile the
/// text without overlap; a token made only of a character's continuation bytes gets an empty range.</para>
/// <para>A limit on the token count (<see cref="EncodeSettings.MaxTokenCount"/>) never cuts a character in two:
/// tokens are dropped back to the last one that ends on a character boundary.</para>
/// </remarks>
public abstract class RwkvTokenizer : Tokenizer
{
    private const int StackBytes = 512;

    private string?[]? _tokenStrings;

    /// <summary>Ids in [0, <see cref="VocabularySize"/>) decode; others are rejected.</summary>
    public abstract int VocabularySize { get; }

    /// <summary>The id a model emits at the end of a document, if the vocabulary has one (it decodes to no bytes).</summary>
    public virtual int? EndOfTextId => null;

    /// <summary>The bytes of token <paramref name="id"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is not in [0, <see cref="VocabularySize"/>).</exception>
    public abstract ReadOnlySpan<byte> GetTokenBytes(int id);

    /// <summary>
    /// Encodes UTF-8 bytes into <paramref name="destination"/>, which must hold at least
    /// <c>utf8.Length</c> ids (every token is at least one byte). Returns the number of ids written.
    /// </summary>
    public abstract int EncodeUtf8(ReadOnlySpan<byte> utf8, Span<int> destination);

    /// <summary>Encodes <paramref name="text"/> to a new array of ids.</summary>
    public int[] EncodeToIdArray(ReadOnlySpan<char> text)
    {
        using PooledEncoding encoding = EncodePooled(text);
        return encoding.Ids.ToArray();
    }

    /// <summary>The number of bytes <paramref name="ids"/> decode to.</summary>
    public int GetUtf8ByteCount(ReadOnlySpan<int> ids)
    {
        int total = 0;
        foreach (int id in ids)
        {
            total = checked(total + GetTokenBytes(id).Length);
        }

        return total;
    }

    /// <summary>Writes the bytes of <paramref name="ids"/> to <paramref name="destination"/>; returns the count written.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="GetUtf8ByteCount"/>.</exception>
    public int DecodeToUtf8(ReadOnlySpan<int> ids, Span<byte> destination)
    {
        int written = 0;
        foreach (int id in ids)
        {
            ReadOnlySpan<byte> bytes = GetTokenBytes(id);
            if (bytes.Length > destination.Length - written)
            {
                throw new ArgumentException($"The destination holds {destination.Length} bytes, too few for these tokens.", nameof(destination));
            }

            bytes.CopyTo(destination[written..]);
            written += bytes.Length;
        }

        return written;
    }

    /// <summary>The exact bytes of <paramref name="ids"/>, which may end in the middle of a character.</summary>
    public byte[] DecodeToUtf8(ReadOnlySpan<int> ids)
    {
        byte[] bytes = new byte[GetUtf8ByteCount(ids)];
        DecodeToUtf8(ids, bytes);
        return bytes;
    }

    /// <summary>Decodes <paramref name="ids"/> to text; bytes that do not form complete characters become U+FFFD.</summary>
    public string DecodeToString(ReadOnlySpan<int> ids)
    {
        int length = GetUtf8ByteCount(ids);
        byte[]? rented = null;
        Span<byte> buffer = length <= StackBytes ? stackalloc byte[StackBytes] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            int written = DecodeToUtf8(ids, buffer);
            return Encoding.UTF8.GetString(buffer[..written]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The text of one token, as <see cref="EncodedToken.Value"/> reports it (incomplete characters as U+FFFD).</summary>
    public string GetTokenText(int id)
    {
        ReadOnlySpan<byte> bytes = GetTokenBytes(id); // validates the id
        string?[] cache = _tokenStrings ??= new string?[VocabularySize];
        return cache[id] ??= Encoding.UTF8.GetString(bytes);
    }

    /// <inheritdoc />
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return ids switch
        {
            int[] array => DecodeToString(array),
            List<int> list => DecodeToString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list)),
            _ => DecodeToString(ids.ToArray()),
        };
    }

    /// <inheritdoc />
    /// <remarks>
    /// When the destination is too small, <paramref name="idsConsumed"/> counts the tokens whose text was written in
    /// full, stopping only where no character is split between written and unwritten tokens.
    /// </remarks>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int[] array = ids as int[] ?? ids.ToArray();
        byte[] bytes = DecodeToUtf8(array);
        if (Encoding.UTF8.GetCharCount(bytes) <= destination.Length)
        {
            charsWritten = Encoding.UTF8.GetChars(bytes, destination);
            idsConsumed = array.Length;
            return OperationStatus.Done;
        }

        // Too small: advance token by token, committing at every point where no character is left incomplete.
        int committedBytes = 0, committedChars = 0, committedIds = 0, end = 0;
        for (int i = 0; i < array.Length; i++)
        {
            end += GetTokenBytes(array[i]).Length;
            if (Utf8Boundaries.IncompleteSuffixLength(bytes.AsSpan(0, end)) != 0)
            {
                continue;
            }

            int chars = Encoding.UTF8.GetCharCount(bytes.AsSpan(committedBytes, end - committedBytes));
            if (committedChars + chars > destination.Length)
            {
                break;
            }

            committedChars += chars;
            committedBytes = end;
            committedIds = i + 1;
        }

        charsWritten = Encoding.UTF8.GetChars(bytes.AsSpan(0, committedBytes), destination);
        idsConsumed = committedIds;
        return OperationStatus.DestinationTooSmall;
    }

    /// <inheritdoc />
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ReadOnlySpan<char> chars = text is null ? textSpan : text.AsSpan();
        using PooledEncoding encoding = EncodePooled(chars);
        int count = encoding.CountWithin(settings.MaxTokenCount, out int byteEnd);

        var tokens = new EncodedToken[count];
        int charPos = 0, charBytePos = 0, tokenEnd = 0;
        for (int i = 0; i < count; i++)
        {
            int id = encoding.Ids[i];
            tokenEnd += GetTokenBytes(id).Length;
            int start = charPos;
            while (charBytePos < tokenEnd && charPos < chars.Length)
            {
                AdvanceOneScalar(chars, ref charPos, ref charBytePos);
            }

            tokens[i] = new EncodedToken(id, GetTokenText(id), new Range(start, charPos));
        }

        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = null, CharsConsumed = CharCount(encoding.Bytes[..byteEnd]) };
    }

    /// <inheritdoc />
    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ReadOnlySpan<char> chars = text is null ? textSpan : text.AsSpan();
        using PooledEncoding encoding = EncodePooled(chars);
        int count = encoding.CountWithin(settings.MaxTokenCount, out int byteEnd);
        return new EncodeResults<int> { Tokens = encoding.Ids[..count].ToArray(), NormalizedText = null, CharsConsumed = CharCount(encoding.Bytes[..byteEnd]) };
    }

    /// <inheritdoc />
    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ReadOnlySpan<char> chars = text is null ? textSpan : text.AsSpan();
        using PooledEncoding encoding = EncodePooled(chars);
        return encoding.CountWithin(settings.MaxTokenCount, out _);
    }

    /// <inheritdoc />
    protected override int GetIndexByTokenCount(
        string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings, bool fromEnd, out string? normalizedText, out int tokenCount)
    {
        ReadOnlySpan<char> chars = text is null ? textSpan : text.AsSpan();
        normalizedText = null;
        using PooledEncoding encoding = EncodePooled(chars);
        if (!fromEnd)
        {
            tokenCount = encoding.CountWithin(settings.MaxTokenCount, out int byteEnd);
            return CharCount(encoding.Bytes[..byteEnd]);
        }

        // From the end: the last k tokens, with k as large as the limit allows and the first of them starting a
        // character. Greedy matching from a token boundary gives the same tokens for the suffix alone.
        CheckLimit(settings.MaxTokenCount);
        int all = encoding.Ids.Length;
        int startByte = encoding.Bytes.Length, best = 0, bestStart = startByte;
        for (int k = 1; k <= Math.Min(all, settings.MaxTokenCount); k++)
        {
            startByte -= GetTokenBytes(encoding.Ids[all - k]).Length;
            if (Utf8Boundaries.IsCharacterStart(encoding.Bytes, startByte))
            {
                best = k;
                bestStart = startByte;
            }
        }

        tokenCount = best;
        return CharCount(encoding.Bytes[..bestStart]);
    }

    /// <summary>Converts to UTF-8 and encodes, in pooled buffers.</summary>
    private PooledEncoding EncodePooled(ReadOnlySpan<char> text)
    {
        int byteCount = Encoding.UTF8.GetByteCount(text);
        byte[] bytes = ArrayPool<byte>.Shared.Rent(Math.Max(byteCount, 1));
        int[]? ids = null;
        try
        {
            Encoding.UTF8.GetBytes(text, bytes);
            ids = ArrayPool<int>.Shared.Rent(Math.Max(byteCount, 1));
            int count = EncodeUtf8(bytes.AsSpan(0, byteCount), ids);
            return new PooledEncoding(this, bytes, byteCount, ids, count);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(bytes);
            if (ids is not null)
            {
                ArrayPool<int>.Shared.Return(ids);
            }

            throw;
        }
    }

    /// <summary>Moves past one character (a surrogate pair counts as one, four UTF-8 bytes).</summary>
    private static void AdvanceOneScalar(ReadOnlySpan<char> chars, ref int charPos, ref int bytePos)
    {
        char c = chars[charPos];
        if (char.IsHighSurrogate(c) && charPos + 1 < chars.Length && char.IsLowSurrogate(chars[charPos + 1]))
        {
            charPos += 2;
            bytePos += 4;
            return;
        }

        charPos++;
        bytePos += c switch
        {
            < (char)0x80 => 1,
            < (char)0x800 => 2,
            _ => 3, // includes a lone surrogate, written as U+FFFD (EF BF BD)
        };
    }

    /// <summary>UTF-16 length of well-formed UTF-8 produced from the input (so every byte sequence is complete).</summary>
    private static int CharCount(ReadOnlySpan<byte> utf8) => Encoding.UTF8.GetCharCount(utf8);

    private static void CheckLimit(int maxTokenCount) =>
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxTokenCount, nameof(EncodeSettings.MaxTokenCount));

    /// <summary>Rented UTF-8 bytes of the input and the ids they encode to.</summary>
    private readonly ref struct PooledEncoding
    {
        private readonly RwkvTokenizer _owner;
        private readonly byte[] _bytes;
        private readonly int _byteCount;
        private readonly int[] _ids;
        private readonly int _idCount;

        public PooledEncoding(RwkvTokenizer owner, byte[] bytes, int byteCount, int[] ids, int idCount)
        {
            _owner = owner;
            _bytes = bytes;
            _byteCount = byteCount;
            _ids = ids;
            _idCount = idCount;
        }

        public ReadOnlySpan<byte> Bytes => _bytes.AsSpan(0, _byteCount);

        public ReadOnlySpan<int> Ids => _ids.AsSpan(0, _idCount);

        /// <summary>
        /// How many leading tokens fit in <paramref name="maxTokenCount"/> without splitting a character, and the
        /// byte where they end.
        /// </summary>
        public int CountWithin(int maxTokenCount, out int byteEnd)
        {
            CheckLimit(maxTokenCount);
            if (maxTokenCount >= _idCount)
            {
                byteEnd = _byteCount;
                return _idCount;
            }

            int end = 0, best = 0, bestEnd = 0;
            for (int i = 0; i < maxTokenCount; i++)
            {
                end += _owner.GetTokenBytes(_ids[i]).Length;
                if (Utf8Boundaries.IsCharacterStart(Bytes, end))
                {
                    best = i + 1;
                    bestEnd = end;
                }
            }

            byteEnd = bestEnd;
            return best;
        }

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(_bytes);
            ArrayPool<int>.Shared.Return(_ids);
        }
    }
}
