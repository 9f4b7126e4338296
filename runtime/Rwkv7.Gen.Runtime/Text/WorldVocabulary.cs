using System.Buffers;
using System.Text.Unicode;

namespace Rwkv7.Gen.Text;

/// <summary>
/// The RWKV World vocabulary (<c>rwkv_vocab_v20230424.txt</c>): one token per line, <c>&lt;id&gt; &lt;literal&gt;
/// &lt;byte length&gt;</c>, where the literal is a Python string or bytes literal. Id 0 is not an entry (models use it
/// for end of text).
/// </summary>
internal sealed class WorldVocabulary
{
    /// <summary>Largest id accepted; keeps a malformed file from asking for a huge table.</summary>
    public const int MaxTokenId = (1 << 20) - 1;

    /// <summary>Largest file accepted (the real one is about 1 MB).</summary>
    public const long MaxFileBytes = 64L << 20;

    /// <summary>Largest token accepted, in bytes (the real maximum is 128).</summary>
    public const int MaxTokenBytes = 1024;

    private WorldVocabulary(byte[] bytes, int[] offsets, int entryCount)
    {
        Bytes = bytes;
        Offsets = offsets;
        EntryCount = entryCount;
    }

    /// <summary>Every token's bytes, back to back, in id order.</summary>
    public byte[] Bytes { get; }

    /// <summary>Token <c>id</c> is <c>Bytes[Offsets[id]..Offsets[id + 1]]</c>; ids without an entry are empty.</summary>
    public int[] Offsets { get; }

    /// <summary>Number of lines that defined a token.</summary>
    public int EntryCount { get; }

    /// <summary>One past the largest id.</summary>
    public int IdLimit => Offsets.Length - 1;

    public ReadOnlySpan<byte> this[int id] => Bytes.AsSpan(Offsets[id], Offsets[id + 1] - Offsets[id]);

    /// <summary>Reads a whole vocabulary file (already in memory); <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="RwkvFormatException">A line is malformed; the message gives its number.</exception>
    public static WorldVocabulary Parse(ReadOnlySpan<byte> file, string source)
    {
        var data = new ArrayBufferWriter<byte>(Math.Max(1, file.Length));
        var entries = new List<(int Id, int Start, int Length)>();
        var seen = new HashSet<int>();
        int lineStart = 0, lineNumber = 0;
        while (lineStart < file.Length)
        {
            int newline = file[lineStart..].IndexOf((byte)'\n');
            int lineEnd = newline < 0 ? file.Length : lineStart + newline;
            lineNumber++;
            ReadOnlySpan<byte> line = file[lineStart..lineEnd];
            if (line.Length > 0 && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            if (!line.Trim((byte)' ').IsEmpty)
            {
                int start = data.WrittenCount;
                int id = ParseLine(line, data, source, lineNumber, lineStart);
                if (!seen.Add(id))
                {
                    throw Error(source, lineNumber, lineStart, $"id {id} is defined twice");
                }

                entries.Add((id, start, data.WrittenCount - start));
            }

            lineStart = lineEnd + 1;
        }

        if (entries.Count == 0)
        {
            throw new RwkvFormatException(source, "the vocabulary has no entries");
        }

        return Build(data.WrittenSpan, entries);
    }

    /// <summary>
    /// A vocabulary given as every token's bytes back to back (token id's bytes are
    /// <c>bytes[offsets[id]..offsets[id + 1]]</c>; empty ones are not entries), as a GGUF file's token list is decoded.
    /// </summary>
    public static WorldVocabulary FromTokens(byte[] bytes, int[] offsets, string source)
    {
        int entries = 0;
        for (int id = 0; id + 1 < offsets.Length; id++)
        {
            int length = offsets[id + 1] - offsets[id];
            if (length > MaxTokenBytes)
            {
                throw new RwkvFormatException(source, $"token {id} has {length} bytes; a token has at most {MaxTokenBytes}");
            }

            entries += length > 0 ? 1 : 0;
        }

        if (entries == 0)
        {
            throw new RwkvFormatException(source, "the vocabulary has no entries");
        }

        return new WorldVocabulary(bytes, offsets, entries);
    }

    /// <summary>Parses one line, appends the token's bytes and returns its id.</summary>
    private static int ParseLine(ReadOnlySpan<byte> line, ArrayBufferWriter<byte> data, string source, int lineNumber, long offset)
    {
        if (!Utf8.IsValid(line))
        {
            throw Error(source, lineNumber, offset, "the line is not valid UTF-8");
        }

        int firstSpace = line.IndexOf((byte)' ');
        int lastSpace = line.LastIndexOf((byte)' ');
        if (firstSpace <= 0 || lastSpace <= firstSpace)
        {
            throw Error(source, lineNumber, offset, "expected '<id> <literal> <byte length>'");
        }

        if (!TryParseNumber(line[..firstSpace], out int id) || id == 0 || id > MaxTokenId)
        {
            throw Error(source, lineNumber, offset, $"the id must be a number from 1 to {MaxTokenId} (0 is reserved for end of text)");
        }

        if (!TryParseNumber(line[(lastSpace + 1)..], out int declaredLength))
        {
            throw Error(source, lineNumber, offset, "the byte length at the end of the line is not a number");
        }

        int before = data.WrittenCount;
        string? problem = PythonLiteral.TryDecode(line[(firstSpace + 1)..lastSpace].Trim((byte)' '), data);
        if (problem is not null)
        {
            throw Error(source, lineNumber, offset, problem);
        }

        int length = data.WrittenCount - before;
        if (length != declaredLength)
        {
            throw Error(source, lineNumber, offset, $"the token decodes to {length} bytes but the line says {declaredLength}");
        }

        if (length == 0 || length > MaxTokenBytes)
        {
            throw Error(source, lineNumber, offset, $"a token must have 1 to {MaxTokenBytes} bytes, this one has {length}");
        }

        return id;
    }

    private static WorldVocabulary Build(ReadOnlySpan<byte> data, List<(int Id, int Start, int Length)> entries)
    {
        int idLimit = 0;
        foreach ((int id, _, _) in entries)
        {
            idLimit = Math.Max(idLimit, id + 1);
        }

        var lengths = new int[idLimit];
        var starts = new int[idLimit];
        foreach ((int id, int start, int length) in entries)
        {
            lengths[id] = length;
            starts[id] = start;
        }

        var offsets = new int[idLimit + 1];
        var bytes = new byte[data.Length];
        for (int id = 0; id < idLimit; id++)
        {
            data.Slice(starts[id], lengths[id]).CopyTo(bytes.AsSpan(offsets[id]));
            offsets[id + 1] = offsets[id] + lengths[id];
        }

        return new WorldVocabulary(bytes, offsets, entries.Count);
    }

    private static bool TryParseNumber(ReadOnlySpan<byte> digits, out int value)
    {
        value = 0;
        if (digits.IsEmpty || digits.Length > 9)
        {
            return false;
        }

        foreach (byte b in digits)
        {
            if (b < (byte)'0' || b > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (b - '0');
        }

        return true;
    }

    private static RwkvFormatException Error(string source, int lineNumber, long offset, string problem) =>
        new(source, $"line {lineNumber}: {problem}", offset);
}
