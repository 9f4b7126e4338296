using System.Buffers.Binary;
using System.Text;

namespace Rwkv7.Gen.Tests.Loading.Support;

/// <summary>One metadata pair as stored: key, value type and the value's raw bytes (everything after the type).</summary>
public sealed record GgufKv(string Key, uint Type, byte[] Value)
{
    public static GgufKv String(string key, string value) => new(key, 8, StringBytes(value));

    public static GgufKv UInt32(string key, uint value)
    {
        byte[] bytes = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        return new(key, 4, bytes);
    }

    /// <summary>An array of <paramref name="count"/> elements of <paramref name="elementType"/> with the given element bytes.</summary>
    public static GgufKv Array(string key, uint elementType, ulong count, byte[] elements)
    {
        byte[] bytes = new byte[12 + elements.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, elementType);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(4), count);
        elements.CopyTo(bytes, 12);
        return new(key, 9, bytes);
    }

    /// <summary>A GGUF string: uint64 length, then UTF-8 bytes.</summary>
    public static byte[] StringBytes(string value)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(value);
        byte[] bytes = new byte[8 + utf8.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)utf8.Length);
        utf8.CopyTo(bytes, 8);
        return bytes;
    }
}

/// <summary>One tensor as stored: name, dims innermost first, ggml type and its data bytes.</summary>
public sealed record GgufTensor(string Name, ulong[] Dims, uint Type, byte[] Data);

/// <summary>A whole GGUF file at the record level (no canonicalization), for crafting bad files from good ones.</summary>
public sealed class GgufModel
{
    public uint Version { get; set; } = 3;

    public List<GgufKv> Metadata { get; } = [];

    public List<GgufTensor> Tensors { get; } = [];
}

/// <summary>Where each part of a GGUF file starts, for cutting it at section boundaries.</summary>
public sealed record GgufLayout(List<long> KeyValueStarts, List<long> TensorInfoStarts, long InfosEnd, long DataStart, List<long> TensorDataStarts);

/// <summary>Reads and writes GGUF files at the record level (an independent little reader, written from the format description).</summary>
public static class TestGguf
{
    public const int Alignment = 32;

    public static GgufModel Parse(byte[] file) => Parse(file, out _);

    public static GgufModel Parse(byte[] file, out GgufLayout layout)
    {
        var model = new GgufModel { Version = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(4)) };
        ulong tensorCount = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(8));
        ulong kvCount = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(16));
        int pos = 24;
        var kvStarts = new List<long>();
        for (ulong i = 0; i < kvCount; i++)
        {
            kvStarts.Add(pos);
            string key = ReadString(file, ref pos);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(pos));
            pos += 4;
            int start = pos;
            SkipValue(file, type, ref pos);
            model.Metadata.Add(new GgufKv(key, type, file.AsSpan(start, pos - start).ToArray()));
        }

        var infoStarts = new List<long>();
        var infos = new List<(string Name, ulong[] Dims, uint Type, ulong Offset)>();
        for (ulong i = 0; i < tensorCount; i++)
        {
            infoStarts.Add(pos);
            string name = ReadString(file, ref pos);
            uint dimCount = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(pos));
            pos += 4;
            ulong[] dims = new ulong[dimCount];
            for (int d = 0; d < dims.Length; d++)
            {
                dims[d] = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(pos));
                pos += 8;
            }

            uint type = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(pos));
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(pos + 4));
            pos += 12;
            infos.Add((name, dims, type, offset));
        }

        long infosEnd = pos;
        long dataStart = (pos + Alignment - 1) / Alignment * Alignment;
        var dataStarts = new List<long>();
        foreach ((string name, ulong[] dims, uint type, ulong offset) in infos)
        {
            long bytes = DataBytes(dims, type);
            dataStarts.Add(dataStart + (long)offset);
            model.Tensors.Add(new GgufTensor(name, dims, type, file.AsSpan((int)(dataStart + (long)offset), (int)bytes).ToArray()));
        }

        layout = new GgufLayout(kvStarts, infoStarts, infosEnd, dataStart, dataStarts);
        return model;
    }

    /// <summary>
    /// Writes <paramref name="model"/> (tensors aligned to <paramref name="alignment"/>): header, metadata, tensor infos with offsets in table order (each padded to the
    /// alignment), padding, data. <paramref name="offsetOf"/> may replace a tensor's offset (index, computed → written).
    /// </summary>
    public static byte[] Write(GgufModel model, Func<int, ulong, ulong>? offsetOf = null, ulong? tensorCount = null, ulong? kvCount = null, int alignment = Alignment)
    {
        using var output = new MemoryStream();
        var w = new BinaryWriter(output);
        w.Write(Encoding.ASCII.GetBytes("GGUF"));
        w.Write(model.Version);
        w.Write(tensorCount ?? (ulong)model.Tensors.Count);
        w.Write(kvCount ?? (ulong)model.Metadata.Count);
        foreach (GgufKv kv in model.Metadata)
        {
            w.Write(GgufKv.StringBytes(kv.Key));
            w.Write(kv.Type);
            w.Write(kv.Value);
        }

        ulong offset = 0;
        for (int i = 0; i < model.Tensors.Count; i++)
        {
            GgufTensor t = model.Tensors[i];
            w.Write(GgufKv.StringBytes(t.Name));
            w.Write((uint)t.Dims.Length);
            foreach (ulong d in t.Dims)
            {
                w.Write(d);
            }

            w.Write(t.Type);
            w.Write(offsetOf?.Invoke(i, offset) ?? offset);
            offset += ((ulong)t.Data.Length + (ulong)alignment - 1) / (ulong)alignment * (ulong)alignment;
        }

        w.Flush();
        Pad(output, alignment);
        foreach (GgufTensor t in model.Tensors)
        {
            output.Write(t.Data);
            Pad(output, alignment);
        }

        return output.ToArray();
    }

    /// <summary>Bytes of a tensor of the types the fixtures use (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K).</summary>
    public static long DataBytes(ulong[] dims, uint type)
    {
        long count = 1;
        foreach (ulong d in dims)
        {
            count *= (long)d;
        }

        return type switch
        {
            0 => count * 4,
            1 or 30 => count * 2,
            8 => count / 32 * 34,
            2 => count / 32 * 18,
            12 => count / 256 * 144,
            14 => count / 256 * 210,
            _ => throw new ArgumentException($"type {type} is not used by the fixtures"),
        };
    }

    private static void Pad(MemoryStream output, int alignment)
    {
        while (output.Length % alignment != 0)
        {
            output.WriteByte(0);
        }
    }

    private static string ReadString(byte[] file, ref int pos)
    {
        int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(pos));
        string s = Encoding.UTF8.GetString(file, pos + 8, length);
        pos += 8 + length;
        return s;
    }

    private static void SkipValue(byte[] file, uint type, ref int pos)
    {
        switch (type)
        {
            case 8:
                ReadString(file, ref pos);
                break;
            case 9:
                uint element = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(pos));
                ulong count = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(pos + 4));
                pos += 12;
                for (ulong i = 0; i < count; i++)
                {
                    SkipValue(file, element, ref pos);
                }

                break;
            default:
                pos += type switch { 0 or 1 or 7 => 1, 2 or 3 => 2, 4 or 5 or 6 => 4, _ => 8 };
                break;
        }
    }
}
