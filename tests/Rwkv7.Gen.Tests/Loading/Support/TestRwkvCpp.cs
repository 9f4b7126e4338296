using System.Buffers.Binary;
using System.Text;

namespace Rwkv7.Gen.Tests.Loading.Support;

/// <summary>One rwkv.cpp tensor record as stored: dims innermost first, data type 0 (FP32) / 1 (FP16) / others.</summary>
public sealed record RwkvCppRecord(string Name, int[] StoredDims, int DataType, byte[] Data);

/// <summary>Reads and writes rwkv.cpp .bin files at the record level (no canonicalization), for crafting bad files.</summary>
public static class TestRwkvCpp
{
    public const int HeaderBytes = 24;
    public const uint Magic = 0x67676d66;

    /// <summary>The six header ints and every record of a well-formed file.</summary>
    public static (int[] Header, List<RwkvCppRecord> Records) Parse(byte[] file)
    {
        int[] header = new int[6];
        for (int i = 0; i < header.Length; i++)
        {
            header[i] = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(i * 4));
        }

        var records = new List<RwkvCppRecord>();
        int pos = HeaderBytes;
        while (pos < file.Length)
        {
            int dimCount = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(pos));
            int nameLength = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(pos + 4));
            int type = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(pos + 8));
            pos += 12;
            int[] dims = new int[dimCount];
            long count = 1;
            for (int i = 0; i < dimCount; i++)
            {
                dims[i] = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(pos + (4 * i)));
                count *= dims[i];
            }

            pos += 4 * dimCount;
            string name = Encoding.UTF8.GetString(file, pos, nameLength);
            pos += nameLength;
            int bytes = checked((int)count * (type == 0 ? 4 : 2));
            records.Add(new RwkvCppRecord(name, dims, type, file.AsSpan(pos, bytes).ToArray()));
            pos += bytes;
        }

        return (header, records);
    }

    /// <summary>Offsets of each record's start, in file order (for truncating at boundaries).</summary>
    public static List<int> RecordOffsets(byte[] file)
    {
        var offsets = new List<int>();
        int pos = HeaderBytes;
        foreach (RwkvCppRecord r in Parse(file).Records)
        {
            offsets.Add(pos);
            pos += 12 + (4 * r.StoredDims.Length) + Encoding.UTF8.GetByteCount(r.Name) + r.Data.Length;
        }

        return offsets;
    }

    public static byte[] Write(int[] header, IEnumerable<RwkvCppRecord> records)
    {
        using var output = new MemoryStream();
        var writer = new BinaryWriter(output);
        foreach (int h in header)
        {
            writer.Write(h);
        }

        foreach (RwkvCppRecord r in records)
        {
            byte[] name = Encoding.UTF8.GetBytes(r.Name);
            writer.Write(r.StoredDims.Length);
            writer.Write(name.Length);
            writer.Write(r.DataType);
            foreach (int d in r.StoredDims)
            {
                writer.Write(d);
            }

            writer.Write(name);
            writer.Write(r.Data);
        }

        writer.Flush();
        return output.ToArray();
    }

    /// <summary>A header for a model of the given numbers (version 101).</summary>
    public static int[] Header(int vocab, int embed, int layers, int dataType = 0) =>
        [unchecked((int)Magic), 101, vocab, embed, layers, dataType];
}
