using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Rwkv7.Gen.Tests.Loading.Support;

/// <summary>One file to put in a test archive.</summary>
/// <param name="Name">Path inside the archive.</param>
/// <param name="Data">Uncompressed contents.</param>
/// <param name="Deflate">Whether to deflate it (method 8) instead of storing it.</param>
public sealed record ZipItem(string Name, byte[] Data, bool Deflate = false);

/// <summary>
/// Writes zip archives byte by byte so tests control every field: stored or deflated entries and, on request,
/// the Zip64 forms (saturated 32-bit fields, Zip64 extra fields, Zip64 end record and locator) that real
/// checkpoints over 4 GB use, on files small enough for a unit test.
/// </summary>
public static class TestZipWriter
{
    private const ushort Zip64ExtraId = 0x0001;
    private const ushort VersionDefault = 20;
    private const ushort VersionZip64 = 45;
    private const ushort Utf8NameFlag = 0x0800;

    public static byte[] Write(IEnumerable<ZipItem> items, bool forceZip64 = false)
    {
        using var output = new MemoryStream();
        var writer = new BinaryWriter(output);
        var central = new List<(ZipItem Item, byte[] Stored, uint Crc, long Offset)>();
        foreach (ZipItem item in items)
        {
            byte[] stored = item.Deflate ? Deflate(item.Data) : item.Data;
            uint crc = Crc32.Compute(item.Data);
            long offset = output.Position;
            byte[] name = Encoding.UTF8.GetBytes(item.Name);
            writer.Write(0x04034b50u);
            writer.Write(forceZip64 ? VersionZip64 : VersionDefault);
            writer.Write(Utf8NameFlag);
            writer.Write((ushort)(item.Deflate ? 8 : 0));
            writer.Write(0u); // time and date
            writer.Write(crc);
            byte[] extra = forceZip64 ? Zip64Extra(item.Data.Length, stored.Length, null) : [];
            writer.Write(forceZip64 ? uint.MaxValue : (uint)stored.Length);
            writer.Write(forceZip64 ? uint.MaxValue : (uint)item.Data.Length);
            writer.Write((ushort)name.Length);
            writer.Write((ushort)extra.Length);
            writer.Write(name);
            writer.Write(extra);
            writer.Write(stored);
            central.Add((item, stored, crc, offset));
        }

        long directoryOffset = output.Position;
        foreach ((ZipItem item, byte[] stored, uint crc, long offset) in central)
        {
            byte[] name = Encoding.UTF8.GetBytes(item.Name);
            byte[] extra = forceZip64 ? Zip64Extra(item.Data.Length, stored.Length, offset) : [];
            writer.Write(0x02014b50u);
            writer.Write(forceZip64 ? VersionZip64 : VersionDefault); // made by
            writer.Write(forceZip64 ? VersionZip64 : VersionDefault); // needed
            writer.Write(Utf8NameFlag);
            writer.Write((ushort)(item.Deflate ? 8 : 0));
            writer.Write(0u); // time and date
            writer.Write(crc);
            writer.Write(forceZip64 ? uint.MaxValue : (uint)stored.Length);
            writer.Write(forceZip64 ? uint.MaxValue : (uint)item.Data.Length);
            writer.Write((ushort)name.Length);
            writer.Write((ushort)extra.Length);
            writer.Write((ushort)0); // comment
            writer.Write((ushort)0); // disk
            writer.Write((ushort)0); // internal attributes
            writer.Write(0u); // external attributes
            writer.Write(forceZip64 ? uint.MaxValue : (uint)offset);
            writer.Write(name);
            writer.Write(extra);
        }

        long directorySize = output.Position - directoryOffset;
        if (forceZip64)
        {
            long zip64End = output.Position;
            writer.Write(0x06064b50u);
            writer.Write(44UL); // size of the rest of the record
            writer.Write(VersionZip64);
            writer.Write(VersionZip64);
            writer.Write(0u); // this disk
            writer.Write(0u); // directory disk
            writer.Write((ulong)central.Count);
            writer.Write((ulong)central.Count);
            writer.Write((ulong)directorySize);
            writer.Write((ulong)directoryOffset);
            writer.Write(0x07064b50u);
            writer.Write(0u);
            writer.Write((ulong)zip64End);
            writer.Write(1u);
        }

        writer.Write(0x06054b50u);
        writer.Write((ushort)0);
        writer.Write((ushort)0);
        writer.Write(forceZip64 ? ushort.MaxValue : (ushort)central.Count);
        writer.Write(forceZip64 ? ushort.MaxValue : (ushort)central.Count);
        writer.Write(forceZip64 ? uint.MaxValue : (uint)directorySize);
        writer.Write(forceZip64 ? uint.MaxValue : (uint)directoryOffset);
        writer.Write((ushort)0); // comment
        writer.Flush();
        return output.ToArray();
    }

    /// <summary>Every entry of an existing archive, decompressed, in central directory order.</summary>
    public static List<ZipItem> ReadAll(byte[] archive)
    {
        using var zip = new ZipArchive(new MemoryStream(archive, writable: false), ZipArchiveMode.Read);
        var items = new List<ZipItem>();
        foreach (ZipArchiveEntry entry in zip.Entries)
        {
            using Stream s = entry.Open();
            using var copy = new MemoryStream();
            s.CopyTo(copy);
            items.Add(new ZipItem(entry.FullName, copy.ToArray()));
        }

        return items;
    }

    private static byte[] Zip64Extra(long uncompressed, long compressed, long? offset)
    {
        int size = offset is null ? 16 : 24;
        byte[] extra = new byte[4 + size];
        BinaryPrimitives.WriteUInt16LittleEndian(extra, Zip64ExtraId);
        BinaryPrimitives.WriteUInt16LittleEndian(extra.AsSpan(2), (ushort)size);
        BinaryPrimitives.WriteInt64LittleEndian(extra.AsSpan(4), uncompressed);
        BinaryPrimitives.WriteInt64LittleEndian(extra.AsSpan(12), compressed);
        if (offset is long o)
        {
            BinaryPrimitives.WriteInt64LittleEndian(extra.AsSpan(20), o);
        }

        return extra;
    }

    private static byte[] Deflate(byte[] data)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(data);
        }

        return output.ToArray();
    }
}

/// <summary>The zip CRC-32 (polynomial 0xEDB88320), so that test archives are valid for any zip reader.</summary>
public static class Crc32
{
    private static readonly uint[] Table = CreateTable();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = uint.MaxValue;
        foreach (byte b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] CreateTable()
    {
        uint[] table = new uint[256];
        for (uint i = 0; i < table.Length; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
