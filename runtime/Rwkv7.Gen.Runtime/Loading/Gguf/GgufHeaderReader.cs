using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Rwkv7.Gen.Loading.Gguf;

/// <summary>
/// Reads a GGUF header front to back through a small buffer, checking every length against what is left of the file
/// before trusting it: a field that would run past the end is a <see cref="RwkvFormatException"/> naming what was
/// being read, and nothing is allocated for a length the file cannot hold.
/// </summary>
internal sealed class GgufHeaderReader
{
    private const int BufferBytes = 64 << 10;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly string _path;
    private readonly SafeFileHandle _handle;
    private readonly byte[] _buffer;
    private long _bufferStart;
    private int _bufferLength;

    public GgufHeaderReader(string path, SafeFileHandle handle, long fileLength)
    {
        _path = path;
        _handle = handle;
        FileLength = fileLength;
        _buffer = new byte[(int)Math.Min(BufferBytes, Math.Max(1, fileLength))];
    }

    /// <summary>The file, for error messages.</summary>
    public string FilePath => _path;

    /// <summary>Total bytes in the file.</summary>
    public long FileLength { get; }

    /// <summary>Offset of the next byte to read.</summary>
    public long Position { get; private set; }

    /// <summary>Bytes between <see cref="Position"/> and the end of the file.</summary>
    public long Remaining => FileLength - Position;

    public byte ReadByte(string what) => Take(sizeof(byte), what)[0];

    public uint ReadUInt32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(sizeof(uint), what));

    public ulong ReadUInt64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(sizeof(ulong), what));

    /// <summary>Reads a fixed-size scalar's bytes (1 to 8).</summary>
    public ReadOnlySpan<byte> ReadScalar(int size, string what) => Take(size, what);

    /// <summary>
    /// Reads a GGUF string (uint64 byte length, then UTF-8 bytes) of at most <paramref name="maxBytes"/> bytes and
    /// decodes it strictly.
    /// </summary>
    public string ReadString(string what, long maxBytes = long.MaxValue)
    {
        long start = Position;
        int length = ReadStringLength(what, maxBytes);
        byte[] bytes = new byte[length];
        ReadInto(bytes, what);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new RwkvFormatException(_path, $"{what} is not valid UTF-8", start, e);
        }
    }

    /// <summary>
    /// Reads a string's uint64 length and checks it: at most <paramref name="maxBytes"/> and no longer than what is left
    /// of the file.
    /// </summary>
    public int ReadStringLength(string what, long maxBytes = long.MaxValue)
    {
        long at = Position;
        ulong length = ReadUInt64($"the length of {what}");
        if (length > (ulong)Math.Min(maxBytes, int.MaxValue))
        {
            throw new RwkvFormatException(_path, $"{what} claims {length} bytes; at most {Math.Min(maxBytes, int.MaxValue)} are accepted", at);
        }

        if ((long)length > Remaining)
        {
            throw new RwkvFormatException(_path, $"{what} claims {length} bytes but only {Remaining} are left in the file", at);
        }

        return (int)length;
    }

    /// <summary>Copies the next <paramref name="destination"/>.Length bytes.</summary>
    public void ReadInto(Span<byte> destination, string what)
    {
        if (destination.Length > Remaining)
        {
            throw Ends(what);
        }

        while (!destination.IsEmpty)
        {
            int n = Math.Min(destination.Length, _buffer.Length);
            Take(n, what).CopyTo(destination);
            destination = destination[n..];
        }
    }

    /// <summary>Moves past <paramref name="count"/> bytes.</summary>
    public void Skip(long count, string what)
    {
        if (count > Remaining)
        {
            throw Ends(what);
        }

        Position += count;
    }

    /// <summary>A format error at the current position.</summary>
    public RwkvFormatException Error(string message, long? at = null) => new(_path, message, at ?? Position);

    private RwkvFormatException Ends(string what) => new(_path, $"the file ends inside {what}", Position);

    /// <summary>The next <paramref name="count"/> bytes (at most the buffer's size), refilling the buffer when needed.</summary>
    private ReadOnlySpan<byte> Take(int count, string what)
    {
        if (count > Remaining)
        {
            throw Ends(what);
        }

        long offset = Position - _bufferStart;
        if (offset < 0 || offset + count > _bufferLength)
        {
            _bufferStart = Position;
            _bufferLength = (int)Math.Min(_buffer.Length, Remaining);
            FileReading.ReadExactly(_path, _handle, _buffer.AsSpan(0, _bufferLength), _bufferStart, what);
            offset = 0;
        }

        Position += count;
        return _buffer.AsSpan((int)offset, count);
    }
}
