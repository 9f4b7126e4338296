using System.Buffers.Binary;

namespace Rwkv7.Gen.StateFiles;

/// <summary>
/// The fixed 64-byte header of a state file, little-endian:
/// <code>
///  0  8  magic "RWKV7STA"
///  8  4  format version (1)
/// 12  4  header length (64)
/// 16  4  layers L
/// 20  4  embedding D
/// 24  4  head size N
/// 28  4  heads H (= D / N)
/// 32  4  element type (1 = float32)
/// 36  4  number of logits stored after the state (0 = none, else the model's vocabulary V)
/// 40  8  payload length in bytes
/// 48  4  CRC-32C of the payload
/// 52  8  reserved, zero
/// 60  4  CRC-32C of bytes 0..60
/// </code>
/// The payload follows: <c>att_x</c> [L][D], <c>ffn_x</c> [L][D], <c>wkv</c> [L][H][i][j] (canonical: value row i,
/// key column j), then the logits [V] if any, all float32.
/// </summary>
internal readonly record struct StateFileHeader(
    int Version, int Layers, int Embedding, int HeadSize, int Heads, int ElementType, int LogitCount, long PayloadLength, uint PayloadCrc)
{
    public const int Length = 64;
    public const int CurrentVersion = 1;
    public const int Float32 = 1;
    private const int HeaderCrcOffset = 60;

    // Bounds far above any real model; they keep size arithmetic on a hostile header from overflowing.
    private const int MaxLayers = 1 << 16;
    private const int MaxEmbedding = 1 << 20;
    private const int MaxHeadSize = 1 << 12;
    private const int MaxLogits = 1 << 24;

    public static ReadOnlySpan<byte> Magic => "RWKV7STA"u8;

    /// <summary>Float count of the state part: 2·L·D + L·H·N·N.</summary>
    public long StateFloats => (2L * Layers * Embedding) + ((long)Layers * Heads * HeadSize * HeadSize);

    public static StateFileHeader For(ModelShape shape, int logitCount, uint payloadCrc)
    {
        var header = new StateFileHeader(CurrentVersion, shape.Layers, shape.Embedding, shape.HeadSize, shape.Heads, Float32, logitCount, 0, payloadCrc);
        return header with { PayloadLength = (header.StateFloats + logitCount) * sizeof(float) };
    }

    public void WriteTo(Span<byte> destination)
    {
        destination = destination[..Length];
        destination.Clear();
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteInt32LittleEndian(destination[8..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(destination[12..], Length);
        BinaryPrimitives.WriteInt32LittleEndian(destination[16..], Layers);
        BinaryPrimitives.WriteInt32LittleEndian(destination[20..], Embedding);
        BinaryPrimitives.WriteInt32LittleEndian(destination[24..], HeadSize);
        BinaryPrimitives.WriteInt32LittleEndian(destination[28..], Heads);
        BinaryPrimitives.WriteInt32LittleEndian(destination[32..], ElementType);
        BinaryPrimitives.WriteInt32LittleEndian(destination[36..], LogitCount);
        BinaryPrimitives.WriteInt64LittleEndian(destination[40..], PayloadLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[48..], PayloadCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[HeaderCrcOffset..], Crc32C.Compute(destination[..HeaderCrcOffset]));
    }

    /// <summary>Parses and checks a header: magic, header checksum, version, element type, self-consistent sizes.</summary>
    public static StateFileHeader Read(ReadOnlySpan<byte> bytes, string source)
    {
        if (!bytes[..Magic.Length].SequenceEqual(Magic))
        {
            throw new RwkvFormatException(source, "not an Rwkv7.Gen state file (bad magic)", 0);
        }

        uint storedCrc = BinaryPrimitives.ReadUInt32LittleEndian(bytes[HeaderCrcOffset..]);
        if (storedCrc != Crc32C.Compute(bytes[..HeaderCrcOffset]))
        {
            throw new RwkvFormatException(source, "the header checksum does not match: the header is corrupt", HeaderCrcOffset);
        }

        var header = new StateFileHeader(
            BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]),
            BinaryPrimitives.ReadInt32LittleEndian(bytes[16..]),
            BinaryPrimitives.ReadInt32LittleEndian(bytes[20..]),
            BinaryPrimitives.ReadInt32LittleEndian(bytes[24..]),
            BinaryPrimitives.ReadInt32LittleEndian(bytes[28..]),
            BinaryPrimitives.ReadInt32LittleEndian(bytes[32..]),
            BinaryPrimitives.ReadInt32LittleEndian(bytes[36..]),
            BinaryPrimitives.ReadInt64LittleEndian(bytes[40..]),
            BinaryPrimitives.ReadUInt32LittleEndian(bytes[48..]));
        if (header.Version != CurrentVersion)
        {
            throw new RwkvFormatException(source, $"state file version {header.Version} is not supported (this library reads version {CurrentVersion})", 8);
        }

        int headerLength = BinaryPrimitives.ReadInt32LittleEndian(bytes[12..]);
        if (headerLength != Length)
        {
            throw new RwkvFormatException(source, $"header length {headerLength}, expected {Length}", 12);
        }

        if (header.ElementType != Float32)
        {
            throw new RwkvFormatException(source, $"element type {header.ElementType} is not supported (1 = float32)", 32);
        }

        if (header.Layers is <= 0 or > MaxLayers || header.Embedding is <= 0 or > MaxEmbedding
            || header.HeadSize is <= 0 or > MaxHeadSize || header.Heads <= 0
            || (long)header.Heads * header.HeadSize != header.Embedding || header.LogitCount is < 0 or > MaxLogits
            || header.PayloadLength != (header.StateFloats + header.LogitCount) * sizeof(float))
        {
            throw new RwkvFormatException(source, "the header's sizes do not agree with each other", 16);
        }

        return header;
    }

    public string ShapeText => $"L{Layers} D{Embedding} H{Heads}x{HeadSize}";
}
