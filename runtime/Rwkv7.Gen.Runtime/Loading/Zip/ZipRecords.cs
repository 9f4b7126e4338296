namespace Rwkv7.Gen.Loading.Zip;

/// <summary>
/// Layouts of the zip records the reader uses (PKWARE APPNOTE 6.3): signatures, fixed sizes and the byte offset
/// of every field read. All fields are little-endian.
/// </summary>
internal static class ZipRecords
{
    /// <summary>A 32-bit size or offset of 0xFFFFFFFF means "see the Zip64 extra field / end record".</summary>
    public const uint Saturated32 = uint.MaxValue;

    /// <summary>End of Central Directory record: the last record of every archive, before an optional comment.</summary>
    public static class EndRecord
    {
        public const uint Signature = 0x06054b50;
        public const int Size = 22;
        public const int MaxCommentLength = ushort.MaxValue;
        public const int DiskNumber = 4;
        public const int DirectoryDisk = 6;
        public const int EntriesOnDisk = 8;
        public const int EntryCount = 10;
        public const int DirectorySize = 12;
        public const int DirectoryOffset = 16;
        public const int CommentLength = 20;
    }

    /// <summary>Zip64 End of Central Directory locator: immediately before the End record.</summary>
    public static class Zip64Locator
    {
        public const uint Signature = 0x07064b50;
        public const int Size = 20;
        public const int EndRecordOffset = 8;
    }

    /// <summary>Zip64 End of Central Directory record (the fixed part; torch writes it in every archive).</summary>
    public static class Zip64EndRecord
    {
        public const uint Signature = 0x06064b50;
        public const int Size = 56;
        public const int DiskNumber = 16;
        public const int DirectoryDisk = 20;
        public const int EntriesOnDisk = 24;
        public const int EntryCount = 32;
        public const int DirectorySize = 40;
        public const int DirectoryOffset = 48;
    }

    /// <summary>Central directory file header, followed by name, extra field and comment.</summary>
    public static class CentralHeader
    {
        public const uint Signature = 0x02014b50;
        public const int Size = 46;
        public const int Flags = 8;
        public const int Method = 10;
        public const int CompressedSize = 20;
        public const int UncompressedSize = 24;
        public const int NameLength = 28;
        public const int ExtraLength = 30;
        public const int CommentLength = 32;
        public const int LocalHeaderOffset = 42;
    }

    /// <summary>Local file header, followed by name, extra field (its own; may differ from the central one) and data.</summary>
    public static class LocalHeader
    {
        public const uint Signature = 0x04034b50;
        public const int Size = 30;
        public const int NameLength = 26;
        public const int ExtraLength = 28;
    }

    /// <summary>Extra field blocks: a 2-byte id and a 2-byte length, then the data.</summary>
    public static class ExtraField
    {
        public const int HeaderSize = 4;
        public const int Length = 2;
        public const ushort Zip64Id = 0x0001;
    }
}
