using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Rwkv7.Gen.Loading.Gguf;

/// <summary>One tensor as the GGUF tensor table describes it, checked against the file.</summary>
/// <param name="Name">GGUF name, e.g. <c>blk.0.time_mix_key.weight</c>.</param>
/// <param name="Dims">Dimensions innermost first: <c>Dims[0]</c> values make one contiguous row.</param>
/// <param name="Type">Element type.</param>
/// <param name="DataOffset">Absolute file offset of the first byte.</param>
/// <param name="ByteLength">Bytes the data takes.</param>
internal sealed record GgufTensorInfo(string Name, int[] Dims, GgmlType Type, long DataOffset, long ByteLength)
{
    /// <summary>Values in one row (<c>Dims[0]</c>).</summary>
    public int RowLength => Dims[0];

    /// <summary>Number of rows: the product of every dimension but the first.</summary>
    public long Rows
    {
        get
        {
            long rows = 1;
            for (int i = 1; i < Dims.Length; i++)
            {
                rows *= Dims[i];
            }

            return rows;
        }
    }

    /// <summary>Bytes of one row.</summary>
    public long RowBytes => ByteLength / Math.Max(1, Rows);

    /// <summary>The dimensions as GGUF tools print them, innermost first, e.g. <c>[256, 512]</c>.</summary>
    public string DimsText => "[" + string.Join(", ", Dims) + "]";
}

/// <summary>
/// The header of a GGUF file (versions 2 and 3): metadata, tensor table and where the data section starts. Layout, all
/// little-endian: the magic <c>GGUF</c>, uint32 version, uint64 tensor count, uint64 key/value count; the key/value pairs
/// (GGUF string key, uint32 value type, value); the tensor infos (GGUF string name, uint32 dim count, uint64 dims
/// innermost first, uint32 ggml type, uint64 offset into the data section); padding to the alignment
/// (<c>general.alignment</c>, else 32); the data section, each tensor at an aligned offset. Every count, length, offset
/// and size is checked against the file's length before it is used.
/// </summary>
internal sealed class GgufFile
{
    /// <summary>The magic bytes "GGUF" as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>Alignment of the data section and of each tensor when the file does not set <c>general.alignment</c>.</summary>
    public const int DefaultAlignment = 32;

    /// <summary>Most dimensions a tensor may have (ggml's limit).</summary>
    public const int MaxDims = 4;

    /// <summary>Longest tensor name accepted, in bytes (ggml's own limit is 63).</summary>
    public const int MaxNameBytes = 1024;

    private const uint FirstVersion = 2;
    private const uint LastVersion = 3;

    /// <summary>Fewest bytes a key/value pair takes: an empty key, a value type and a one-byte value.</summary>
    private const int MinKeyValueBytes = sizeof(ulong) + sizeof(uint) + 1;

    /// <summary>Fewest bytes a tensor info takes: an empty name, a dim count, a type and an offset.</summary>
    private const int MinTensorInfoBytes = sizeof(ulong) + sizeof(uint) + sizeof(uint) + sizeof(ulong);

    private const string AlignmentKey = "general.alignment";

    private const string ReadableTypes = "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K";

    private GgufFile(int version, GgufMetadata metadata, IReadOnlyList<GgufTensorInfo> tensors, long dataStart, int alignment)
    {
        Version = version;
        Metadata = metadata;
        Tensors = tensors;
        DataStart = dataStart;
        Alignment = alignment;
    }

    /// <summary>GGUF version (2 or 3).</summary>
    public int Version { get; }

    public GgufMetadata Metadata { get; }

    /// <summary>The tensor table, in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>Absolute offset of the data section.</summary>
    public long DataStart { get; }

    /// <summary>Alignment of the data section and of every tensor.</summary>
    public int Alignment { get; }

    public static GgufFile Read(string path, SafeFileHandle handle, long fileLength)
    {
        var reader = new GgufHeaderReader(path, handle, fileLength);
        int version = ReadPreamble(reader, out ulong tensorCount, out ulong keyCount);
        GgufMetadata metadata = ReadMetadata(reader, keyCount);
        List<(string Name, int[] Dims, GgmlType Type, ulong Offset, long Bytes, long At)> infos = ReadTensorInfos(reader, tensorCount);
        int alignment = ReadAlignment(path, metadata);
        long dataStart = AlignUp(reader.Position, alignment);
        if (dataStart > fileLength)
        {
            throw new RwkvFormatException(path, $"the file ends inside the padding before the data section (it starts at byte {dataStart})", reader.Position);
        }

        var tensors = new List<GgufTensorInfo>(infos.Count);
        long dataBytes = fileLength - dataStart;
        foreach ((string name, int[] dims, GgmlType type, ulong offset, long bytes, long at) in infos)
        {
            string described = $"tensor '{name}' ({GgmlTypes.Name(type)} {Dims(dims)})";
            if (offset % (ulong)alignment != 0)
            {
                throw new RwkvFormatException(path, $"{described} starts at data offset {offset}, which is not a multiple of the alignment {alignment}", at);
            }

            if (offset > (ulong)dataBytes || bytes > dataBytes - (long)offset)
            {
                throw new RwkvFormatException(
                    path, $"{described} needs {bytes} bytes at data offset {offset}, past the end of the file (the data section holds {dataBytes} bytes)", at);
            }

            tensors.Add(new GgufTensorInfo(name, dims, type, dataStart + (long)offset, bytes));
        }

        CheckNoOverlap(path, tensors);
        return new GgufFile(version, metadata, tensors, dataStart, alignment);
    }

    /// <summary>Magic, version and the two counts, each count checked against the bytes the file has left.</summary>
    private static int ReadPreamble(GgufHeaderReader reader, out ulong tensorCount, out ulong keyCount)
    {
        uint magic = reader.ReadUInt32("the GGUF magic");
        if (magic != Magic)
        {
            throw reader.Error($"bad GGUF magic 0x{magic:x8}; expected the bytes 'GGUF'", 0);
        }

        uint version = reader.ReadUInt32("the GGUF version");
        if (version is < FirstVersion or > LastVersion)
        {
            uint swapped = BinaryPrimitives.ReverseEndianness(version);
            string hint = version == 1 ? " (version 1 used 32-bit counts; convert the file again with a current llama.cpp)"
                : swapped is >= FirstVersion and <= LastVersion ? " (a big-endian file: only little-endian GGUF is read)"
                : string.Empty;
            throw reader.Error($"GGUF version {version} is not supported, only {FirstVersion} and {LastVersion}{hint}", sizeof(uint));
        }

        long at = reader.Position;
        tensorCount = reader.ReadUInt64("the tensor count");
        keyCount = reader.ReadUInt64("the metadata key count");
        if (keyCount > (ulong)(reader.Remaining / MinKeyValueBytes))
        {
            throw reader.Error($"the header claims {keyCount} metadata keys but only {reader.Remaining} bytes are left in the file", at + sizeof(ulong));
        }

        if (tensorCount > (ulong)(reader.Remaining / MinTensorInfoBytes))
        {
            throw reader.Error($"the header claims {tensorCount} tensors but only {reader.Remaining} bytes are left in the file", at);
        }

        return (int)version;
    }

    private static GgufMetadata ReadMetadata(GgufHeaderReader reader, ulong keyCount)
    {
        var values = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        var keys = new List<string>();
        for (ulong i = 0; i < keyCount; i++)
        {
            long at = reader.Position;
            string key = reader.ReadString($"metadata key #{i}", GgufMetadata.MaxKeyBytes);
            uint type = reader.ReadUInt32($"the value type of metadata key '{key}'");
            GgufValue value = GgufMetadata.ReadValue(reader, key, (GgufValueType)type, at);
            if (!values.TryAdd(key, value))
            {
                throw reader.Error($"metadata key '{key}' appears twice", at);
            }

            keys.Add(key);
        }

        return new GgufMetadata(reader.FilePath, values, keys);
    }

    private static List<(string, int[], GgmlType, ulong, long, long)> ReadTensorInfos(GgufHeaderReader reader, ulong count)
    {
        var infos = new List<(string, int[], GgmlType, ulong, long, long)>((int)Math.Min(count, 4096));
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < count; i++)
        {
            long at = reader.Position;
            string name = reader.ReadString($"the name of tensor #{i}", MaxNameBytes);
            if (!names.Add(name))
            {
                throw reader.Error($"tensor '{name}' appears twice in the tensor table", at);
            }

            uint dimCount = reader.ReadUInt32($"the dimension count of tensor '{name}'");
            if (dimCount is < 1 or > MaxDims)
            {
                throw reader.Error($"tensor '{name}' claims {dimCount} dimensions; GGUF tensors have 1 to {MaxDims}", at);
            }

            int[] dims = new int[dimCount];
            long elements = 1;
            for (int d = 0; d < dims.Length; d++)
            {
                ulong size = reader.ReadUInt64($"the dimensions of tensor '{name}'");
                if (size is 0 or > int.MaxValue)
                {
                    throw reader.Error($"tensor '{name}' has a dimension of size {size}; sizes run from 1 to {int.MaxValue}", at);
                }

                dims[d] = (int)size;
                elements = elements > long.MaxValue / dims[d] ? long.MaxValue : elements * dims[d];
            }

            uint typeCode = reader.ReadUInt32($"the type of tensor '{name}'");
            var type = (GgmlType)typeCode;
            if (!GgmlTypes.TryGetLayout(type, out int blockValues, out int blockBytes))
            {
                throw reader.Error(
                    Enum.IsDefined(type)
                        ? $"tensor '{name}' has type {GgmlTypes.Name(type)} ({typeCode}), which Rwkv7.Gen does not read (it reads {ReadableTypes})"
                        : $"tensor '{name}' has type {typeCode}, which ggml does not define",
                    at);
            }

            if (dims[0] % blockValues != 0)
            {
                throw reader.Error($"tensor '{name}' is {GgmlTypes.Name(type)} with rows of {dims[0]} values, not whole blocks of {blockValues}", at);
            }

            long blocks = elements / blockValues;
            long bytes = blocks > long.MaxValue / blockBytes ? long.MaxValue : blocks * blockBytes;
            ulong offset = reader.ReadUInt64($"the data offset of tensor '{name}'");
            infos.Add((name, dims, type, offset, bytes, at));
        }

        return infos;
    }

    private static int ReadAlignment(string path, GgufMetadata metadata)
    {
        GgufValue? value = metadata.Find(AlignmentKey);
        if (value is null)
        {
            return DefaultAlignment;
        }

        if (value is not { Type: GgufValueType.UInt32, Integer: > 0 and <= 1 << 30 } || (value.Integer & (value.Integer - 1)) != 0)
        {
            throw metadata.WrongType(AlignmentKey, value, "a UINT32 power of two");
        }

        return (int)value.Integer;
    }

    /// <summary>Two tensors whose bytes overlap mean a corrupt table (a writer never shares data between tensors).</summary>
    private static void CheckNoOverlap(string path, List<GgufTensorInfo> tensors)
    {
        var byOffset = tensors.OrderBy(t => t.DataOffset).ToList();
        for (int i = 1; i < byOffset.Count; i++)
        {
            GgufTensorInfo before = byOffset[i - 1], after = byOffset[i];
            if (before.DataOffset + before.ByteLength > after.DataOffset)
            {
                throw new RwkvFormatException(
                    path, $"tensors '{before.Name}' and '{after.Name}' overlap in the data section (bytes {before.DataOffset} to {before.DataOffset + before.ByteLength} and from {after.DataOffset})");
            }
        }
    }

    private static string Dims(int[] dims) => "[" + string.Join(", ", dims) + "]";

    public static long AlignUp(long value, int alignment) => (value + alignment - 1) / alignment * alignment;
}
