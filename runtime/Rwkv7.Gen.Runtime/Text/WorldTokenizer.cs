namespace Rwkv7.Gen.Text;

/// <summary>
/// The RWKV "World" tokenizer used by every released RWKV-7 model: greedy longest match over UTF-8 bytes against
/// the 65,529 entries of <c>rwkv_vocab_v20230424.txt</c> (ids 1 to 65529). Id 0 is the end-of-text token and has
/// no bytes.
/// </summary>
/// <remarks>
/// The vocabulary is not shipped with this library: load it from a path or a stream. Encoding walks a trie of
/// flat arrays and allocates nothing per byte; the instance is immutable and safe to share between threads.
/// </remarks>
public sealed class WorldTokenizer : RwkvTokenizer
{
    /// <summary>The file name of the released vocabulary.</summary>
    public const string VocabularyFileName = "rwkv_vocab_v20230424.txt";

    private readonly WorldVocabulary _vocabulary;
    private readonly ByteTrie _trie;

    private WorldTokenizer(WorldVocabulary vocabulary, string source)
    {
        _vocabulary = vocabulary;
        _trie = new ByteTrie(vocabulary.Bytes, vocabulary.Offsets, (first, second) =>
            throw new RwkvFormatException(source, $"ids {first} and {second} have the same bytes, so encoding would be ambiguous"));
        for (int b = 0; b < 256; b++)
        {
            if (_trie.SingleByteToken((byte)b) < 0)
            {
                throw new RwkvFormatException(source, $"the vocabulary has no token for the single byte 0x{b:X2}, so some text could not be encoded");
            }
        }

        Source = source;
    }

    /// <summary>Where the vocabulary came from (a path, or the name given with a stream).</summary>
    public string Source { get; }

    /// <summary>Number of vocabulary entries (65,529 for the released file).</summary>
    public int EntryCount => _vocabulary.EntryCount;

    /// <inheritdoc />
    public override int VocabularySize => _vocabulary.IdLimit;

    /// <inheritdoc />
    public override int? EndOfTextId => 0;

    /// <summary>Reads the vocabulary from a file.</summary>
    /// <exception cref="RwkvFormatException">A line is malformed (the message names the file and line).</exception>
    public static WorldTokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Load(stream, path);
    }

    /// <summary>Reads the vocabulary from a stream (read to its end, not closed).</summary>
    /// <param name="stream">The vocabulary file's bytes.</param>
    /// <param name="sourceName">Names the stream in error messages.</param>
    /// <exception cref="RwkvFormatException">A line is malformed, or the stream is larger than any vocabulary.</exception>
    public static WorldTokenizer Load(Stream stream, string sourceName = "vocabulary stream")
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        byte[] file = ReadAll(stream, sourceName);
        return new WorldTokenizer(WorldVocabulary.Parse(file, sourceName), sourceName);
    }

    /// <summary>
    /// A tokenizer over a vocabulary given as token bytes (see <see cref="WorldVocabulary.FromTokens"/>): the token list
    /// of a GGUF file, for example.
    /// </summary>
    internal static WorldTokenizer FromTokens(byte[] bytes, int[] offsets, string sourceName) =>
        new(WorldVocabulary.FromTokens(bytes, offsets, sourceName), sourceName);

    /// <inheritdoc />
    public override ReadOnlySpan<byte> GetTokenBytes(int id)
    {
        if ((uint)id >= (uint)_vocabulary.IdLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"World token ids lie in [0, {_vocabulary.IdLimit}).");
        }

        return _vocabulary[id];
    }

    /// <inheritdoc />
    public override int EncodeUtf8(ReadOnlySpan<byte> utf8, Span<int> destination) => _trie.Encode(utf8, destination);

    private static byte[] ReadAll(Stream stream, string sourceName)
    {
        if (stream.CanSeek && stream.Length - stream.Position > WorldVocabulary.MaxFileBytes)
        {
            throw TooLarge(sourceName);
        }

        using var buffer = new MemoryStream();
        byte[] chunk = new byte[1 << 16];
        int read;
        while ((read = stream.Read(chunk)) > 0)
        {
            if (buffer.Length + read > WorldVocabulary.MaxFileBytes)
            {
                throw TooLarge(sourceName);
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static RwkvFormatException TooLarge(string sourceName) =>
        new(sourceName, $"larger than {WorldVocabulary.MaxFileBytes >> 20} MB: not a vocabulary file");
}
