using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Microsoft.Win32.SafeHandles;
using static Rwkv7.Gen.Loading.Zip.ZipRecords;

namespace Rwkv7.Gen.Loading.Zip;

/// <summary>
/// Reads a zip archive's directory straight from a file handle: the End of Central Directory record (and its
/// Zip64 forms, which checkpoints over 4 GB need), then the central directory. Entry data is never buffered
/// as a whole: callers get each entry's absolute data offset and read it themselves, or read small entries
/// (the pickle) with <see cref="ReadEntry"/>. Every offset and size is checked against the file before use.
/// </summary>
internal sealed class ZipArchiveReader
{
    /// <summary>Largest central directory accepted (a 13B checkpoint's is a few hundred kilobytes).</summary>
    public const long MaxCentralDirectoryBytes = 256L << 20;

    /// <summary>Deflate cannot expand data by more than about 1032:1; a larger claimed ratio is a lie.</summary>
    private const long MaxDeflateRatio = 1032;

    private readonly string _path;
    private readonly SafeFileHandle _handle;
    private readonly long _fileLength;

    private ZipArchiveReader(string path, SafeFileHandle handle, long fileLength, IReadOnlyList<ZipEntry> entries)
    {
        _path = path;
        _handle = handle;
        _fileLength = fileLength;
        Entries = entries;
    }

    /// <summary>Every entry, in central directory order.</summary>
    public IReadOnlyList<ZipEntry> Entries { get; }

    /// <summary>Reads the archive's directory.</summary>
    /// <exception cref="RwkvFormatException">The file is not a readable zip archive.</exception>
    public static ZipArchiveReader Open(string path, SafeFileHandle handle, long fileLength)
    {
        DirectoryLocation directory = FindCentralDirectory(path, handle, fileLength);
        byte[] bytes = new byte[directory.Size];
        FileReading.ReadExactly(path, handle, bytes, directory.Offset, "the zip central directory");
        IReadOnlyList<ZipEntry> entries = ParseCentralDirectory(path, bytes, directory);
        return new ZipArchiveReader(path, handle, fileLength, entries);
    }

    /// <summary>
    /// The absolute file offset of an entry's first data byte (after its local header, name and extra field),
    /// checked so that the entry's <see cref="ZipEntry.CompressedSize"/> bytes lie inside the file.
    /// </summary>
    public long GetDataOffset(ZipEntry entry)
    {
        if (entry.LocalHeaderOffset > _fileLength - LocalHeader.Size)
        {
            throw new RwkvFormatException(
                _path, $"the local header of zip entry '{entry.Name}' lies outside the file", entry.LocalHeaderOffset);
        }

        Span<byte> header = stackalloc byte[LocalHeader.Size];
        FileReading.ReadExactly(_path, _handle, header, entry.LocalHeaderOffset, $"the local header of zip entry '{entry.Name}'");
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != LocalHeader.Signature)
        {
            throw new RwkvFormatException(
                _path, $"zip entry '{entry.Name}' does not start with a local file header signature", entry.LocalHeaderOffset);
        }

        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(header[LocalHeader.NameLength..]);
        int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(header[LocalHeader.ExtraLength..]);
        long dataOffset = entry.LocalHeaderOffset + LocalHeader.Size + nameLength + extraLength;
        if (dataOffset > _fileLength || entry.CompressedSize > _fileLength - dataOffset)
        {
            throw new RwkvFormatException(
                _path,
                $"the data of zip entry '{entry.Name}' ({entry.CompressedSize} bytes from byte {dataOffset}) runs past the end of the {_fileLength}-byte file",
                entry.LocalHeaderOffset);
        }

        return dataOffset;
    }

    /// <summary>
    /// Reads a whole entry into memory, decompressing deflate. Meant for small entries such as the pickle;
    /// refuses entries larger than <paramref name="maxBytes"/> before allocating.
    /// </summary>
    public byte[] ReadEntry(ZipEntry entry, long maxBytes)
    {
        if (entry.IsEncrypted)
        {
            throw new RwkvFormatException(_path, $"zip entry '{entry.Name}' is encrypted", entry.LocalHeaderOffset);
        }

        if (entry.UncompressedSize > maxBytes)
        {
            throw new RwkvFormatException(
                _path, $"zip entry '{entry.Name}' is {entry.UncompressedSize} bytes, more than the {maxBytes} accepted", entry.LocalHeaderOffset);
        }

        long dataOffset = GetDataOffset(entry);
        switch (entry.Method)
        {
            case ZipEntry.MethodStored:
                if (entry.CompressedSize != entry.UncompressedSize)
                {
                    throw new RwkvFormatException(
                        _path,
                        $"stored zip entry '{entry.Name}' has compressed size {entry.CompressedSize} but uncompressed size {entry.UncompressedSize}",
                        entry.LocalHeaderOffset);
                }

                byte[] stored = new byte[entry.UncompressedSize];
                FileReading.ReadExactly(_path, _handle, stored, dataOffset, $"zip entry '{entry.Name}'");
                return stored;

            case ZipEntry.MethodDeflate:
                return Inflate(entry, dataOffset);

            default:
                throw new RwkvFormatException(
                    _path,
                    $"zip entry '{entry.Name}' uses compression method {entry.Method}; only stored (0) and deflate (8) can be read",
                    entry.LocalHeaderOffset);
        }
    }

    private byte[] Inflate(ZipEntry entry, long dataOffset)
    {
        if (entry.UncompressedSize > (entry.CompressedSize * MaxDeflateRatio) + 1)
        {
            throw new RwkvFormatException(
                _path,
                $"zip entry '{entry.Name}' claims {entry.UncompressedSize} bytes from {entry.CompressedSize} deflated bytes, more than deflate can produce",
                entry.LocalHeaderOffset);
        }

        byte[] compressed = new byte[entry.CompressedSize];
        FileReading.ReadExactly(_path, _handle, compressed, dataOffset, $"zip entry '{entry.Name}'");
        byte[] result = new byte[entry.UncompressedSize];
        try
        {
            using var inflater = new DeflateStream(new MemoryStream(compressed, writable: false), CompressionMode.Decompress);
            int filled = 0;
            while (filled < result.Length)
            {
                int n = inflater.Read(result, filled, result.Length - filled);
                if (n == 0)
                {
                    break;
                }

                filled += n;
            }

            Span<byte> probe = stackalloc byte[1];
            if (filled != result.Length || inflater.Read(probe) != 0)
            {
                throw new RwkvFormatException(
                    _path, $"zip entry '{entry.Name}' does not inflate to its declared {entry.UncompressedSize} bytes", entry.LocalHeaderOffset);
            }
        }
        catch (InvalidDataException e)
        {
            throw new RwkvFormatException(_path, $"zip entry '{entry.Name}' holds invalid deflate data: {e.Message}", dataOffset, e);
        }

        return result;
    }

    /// <summary>Where the central directory lies, and where the records after it begin.</summary>
    private readonly record struct DirectoryLocation(long Offset, long Size, long EntryCount, long End);

    private static DirectoryLocation FindCentralDirectory(string path, SafeFileHandle handle, long fileLength)
    {
        // The End of Central Directory record is the last 22 bytes plus a comment of up to 64 KiB.
        int tailLength = (int)Math.Min(fileLength, EndRecord.Size + EndRecord.MaxCommentLength);
        long tailStart = fileLength - tailLength;
        byte[] tail = new byte[tailLength];
        FileReading.ReadExactly(path, handle, tail, tailStart, "the end of the zip archive");
        int at = FindEndRecord(tail);
        if (at < 0)
        {
            throw new RwkvFormatException(
                path, "no zip End of Central Directory record found: the file is truncated or not a zip archive", tailStart);
        }

        long endRecord = tailStart + at;
        ReadOnlySpan<byte> eocd = tail.AsSpan(at, EndRecord.Size);
        long diskNumber = BinaryPrimitives.ReadUInt16LittleEndian(eocd[EndRecord.DiskNumber..]);
        long directoryDisk = BinaryPrimitives.ReadUInt16LittleEndian(eocd[EndRecord.DirectoryDisk..]);
        long entriesOnDisk = BinaryPrimitives.ReadUInt16LittleEndian(eocd[EndRecord.EntriesOnDisk..]);
        long entryCount = BinaryPrimitives.ReadUInt16LittleEndian(eocd[EndRecord.EntryCount..]);
        long size = BinaryPrimitives.ReadUInt32LittleEndian(eocd[EndRecord.DirectorySize..]);
        long offset = BinaryPrimitives.ReadUInt32LittleEndian(eocd[EndRecord.DirectoryOffset..]);
        long directoryEnd = endRecord;

        if (endRecord >= Zip64Locator.Size)
        {
            Span<byte> locator = stackalloc byte[Zip64Locator.Size];
            FileReading.ReadExactly(path, handle, locator, endRecord - Zip64Locator.Size, "the Zip64 locator");
            if (BinaryPrimitives.ReadUInt32LittleEndian(locator) == Zip64Locator.Signature)
            {
                directoryEnd = ReadZip64End(
                    path, handle, locator, endRecord - Zip64Locator.Size, out diskNumber, out directoryDisk, out entriesOnDisk, out entryCount, out size, out offset);
            }
        }

        if (diskNumber != 0 || directoryDisk != 0 || entriesOnDisk != entryCount)
        {
            throw new RwkvFormatException(path, "multi-disk (split) zip archives are not supported", endRecord);
        }

        if (offset < 0 || size < 0 || offset > directoryEnd || size > directoryEnd - offset)
        {
            throw new RwkvFormatException(
                path,
                $"the zip central directory ({size} bytes at byte {offset}) lies outside the {directoryEnd} bytes before its end record",
                endRecord);
        }

        if (size > MaxCentralDirectoryBytes)
        {
            throw new RwkvFormatException(
                path, $"the zip central directory is {size} bytes, more than the {MaxCentralDirectoryBytes} accepted", endRecord);
        }

        if (entryCount > size / CentralHeader.Size)
        {
            throw new RwkvFormatException(
                path, $"the zip archive claims {entryCount} entries but its central directory of {size} bytes cannot hold them", endRecord);
        }

        return new DirectoryLocation(offset, size, entryCount, directoryEnd);
    }

    /// <summary>Finds the End of Central Directory record in the file's tail; -1 if there is none.</summary>
    private static int FindEndRecord(ReadOnlySpan<byte> tail)
    {
        // Prefer the record whose comment reaches exactly to the end of the file; a comment could contain a
        // stray signature. Fall back to the last record that fits (some tools append bytes after the archive).
        int fallback = -1;
        for (int i = tail.Length - EndRecord.Size; i >= 0; i--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail[i..]) != EndRecord.Signature)
            {
                continue;
            }

            int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(tail[(i + EndRecord.CommentLength)..]);
            int end = i + EndRecord.Size + commentLength;
            if (end == tail.Length)
            {
                return i;
            }

            if (end < tail.Length && fallback < 0)
            {
                fallback = i;
            }
        }

        return fallback;
    }

    /// <summary>Reads the Zip64 End of Central Directory record the locator points to; returns its offset.</summary>
    private static long ReadZip64End(
        string path,
        SafeFileHandle handle,
        ReadOnlySpan<byte> locator,
        long locatorOffset,
        out long diskNumber,
        out long directoryDisk,
        out long entriesOnDisk,
        out long entryCount,
        out long size,
        out long offset)
    {
        ulong recordOffset = BinaryPrimitives.ReadUInt64LittleEndian(locator[Zip64Locator.EndRecordOffset..]);
        if (locatorOffset < Zip64EndRecord.Size || recordOffset > (ulong)(locatorOffset - Zip64EndRecord.Size))
        {
            throw new RwkvFormatException(
                path, $"the Zip64 locator points to byte {recordOffset}, which leaves no room for the Zip64 end record", locatorOffset);
        }

        long at = (long)recordOffset;
        Span<byte> record = stackalloc byte[Zip64EndRecord.Size];
        FileReading.ReadExactly(path, handle, record, at, "the Zip64 End of Central Directory record");
        if (BinaryPrimitives.ReadUInt32LittleEndian(record) != Zip64EndRecord.Signature)
        {
            throw new RwkvFormatException(path, "the Zip64 locator does not point to a Zip64 End of Central Directory record", at);
        }

        diskNumber = BinaryPrimitives.ReadUInt32LittleEndian(record[Zip64EndRecord.DiskNumber..]);
        directoryDisk = BinaryPrimitives.ReadUInt32LittleEndian(record[Zip64EndRecord.DirectoryDisk..]);
        entriesOnDisk = ToInt64(path, BinaryPrimitives.ReadUInt64LittleEndian(record[Zip64EndRecord.EntriesOnDisk..]), "Zip64 entry count", at);
        entryCount = ToInt64(path, BinaryPrimitives.ReadUInt64LittleEndian(record[Zip64EndRecord.EntryCount..]), "Zip64 entry count", at);
        size = ToInt64(path, BinaryPrimitives.ReadUInt64LittleEndian(record[Zip64EndRecord.DirectorySize..]), "Zip64 central directory size", at);
        offset = ToInt64(path, BinaryPrimitives.ReadUInt64LittleEndian(record[Zip64EndRecord.DirectoryOffset..]), "Zip64 central directory offset", at);
        return at;
    }

    private static IReadOnlyList<ZipEntry> ParseCentralDirectory(string path, ReadOnlySpan<byte> directory, DirectoryLocation location)
    {
        var entries = new List<ZipEntry>((int)location.EntryCount);
        int pos = 0;
        for (long i = 0; i < location.EntryCount; i++)
        {
            long headerOffset = location.Offset + pos;
            if (directory.Length - pos < CentralHeader.Size
                || BinaryPrimitives.ReadUInt32LittleEndian(directory[pos..]) != CentralHeader.Signature)
            {
                throw new RwkvFormatException(path, $"zip central directory entry {i} is missing or damaged", headerOffset);
            }

            ReadOnlySpan<byte> header = directory.Slice(pos, CentralHeader.Size);
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(header[CentralHeader.Flags..]);
            ushort method = BinaryPrimitives.ReadUInt16LittleEndian(header[CentralHeader.Method..]);
            long compressedSize = BinaryPrimitives.ReadUInt32LittleEndian(header[CentralHeader.CompressedSize..]);
            long uncompressedSize = BinaryPrimitives.ReadUInt32LittleEndian(header[CentralHeader.UncompressedSize..]);
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(header[CentralHeader.NameLength..]);
            int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(header[CentralHeader.ExtraLength..]);
            int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(header[CentralHeader.CommentLength..]);
            long localHeaderOffset = BinaryPrimitives.ReadUInt32LittleEndian(header[CentralHeader.LocalHeaderOffset..]);
            int recordLength = CentralHeader.Size + nameLength + extraLength + commentLength;
            if (directory.Length - pos < recordLength)
            {
                throw new RwkvFormatException(path, $"zip central directory entry {i} runs past the end of the directory", headerOffset);
            }

            string name = Encoding.UTF8.GetString(directory.Slice(pos + CentralHeader.Size, nameLength));
            ReadOnlySpan<byte> extra = directory.Slice(pos + CentralHeader.Size + nameLength, extraLength);
            ApplyZip64Extra(path, name, extra, headerOffset, ref uncompressedSize, ref compressedSize, ref localHeaderOffset);

            // Local headers and their data precede the central directory.
            if (localHeaderOffset > location.Offset - LocalHeader.Size || compressedSize > location.Offset - localHeaderOffset)
            {
                throw new RwkvFormatException(
                    path,
                    $"zip entry '{name}' points to {compressedSize} bytes at byte {localHeaderOffset}, outside the {location.Offset} bytes before the central directory",
                    headerOffset);
            }

            entries.Add(new ZipEntry(name, method, flags, compressedSize, uncompressedSize, localHeaderOffset));
            pos += recordLength;
        }

        return entries;
    }

    /// <summary>
    /// Replaces saturated 32-bit fields with the 64-bit values of the Zip64 extra field, which lists only the
    /// saturated ones, in the order uncompressed size, compressed size, local header offset.
    /// </summary>
    private static void ApplyZip64Extra(
        string path, string name, ReadOnlySpan<byte> extra, long headerOffset, ref long uncompressedSize, ref long compressedSize, ref long localHeaderOffset)
    {
        if (uncompressedSize != Saturated32 && compressedSize != Saturated32 && localHeaderOffset != Saturated32)
        {
            return;
        }

        while (extra.Length >= ExtraField.HeaderSize)
        {
            ushort id = BinaryPrimitives.ReadUInt16LittleEndian(extra);
            int length = BinaryPrimitives.ReadUInt16LittleEndian(extra[ExtraField.Length..]);
            if (length > extra.Length - ExtraField.HeaderSize)
            {
                break;
            }

            ReadOnlySpan<byte> field = extra.Slice(ExtraField.HeaderSize, length);
            if (id == ExtraField.Zip64Id)
            {
                int at = 0;
                uncompressedSize = TakeZip64(path, name, field, ref at, uncompressedSize, headerOffset);
                compressedSize = TakeZip64(path, name, field, ref at, compressedSize, headerOffset);
                localHeaderOffset = TakeZip64(path, name, field, ref at, localHeaderOffset, headerOffset);
                return;
            }

            extra = extra[(ExtraField.HeaderSize + length)..];
        }

        throw new RwkvFormatException(path, $"zip entry '{name}' has saturated 32-bit fields but no Zip64 extra field", headerOffset);
    }

    private static long TakeZip64(string path, string name, ReadOnlySpan<byte> field, ref int at, long value, long headerOffset)
    {
        if (value != Saturated32)
        {
            return value;
        }

        if (field.Length - at < sizeof(ulong))
        {
            throw new RwkvFormatException(path, $"the Zip64 extra field of zip entry '{name}' is too short", headerOffset);
        }

        ulong wide = BinaryPrimitives.ReadUInt64LittleEndian(field[at..]);
        at += sizeof(ulong);
        return ToInt64(path, wide, $"a Zip64 size or offset of zip entry '{name}'", headerOffset);
    }

    private static long ToInt64(string path, ulong value, string what, long offset) =>
        value <= long.MaxValue
            ? (long)value
            : throw new RwkvFormatException(path, $"{what} ({value}) is larger than any file", offset);
}
