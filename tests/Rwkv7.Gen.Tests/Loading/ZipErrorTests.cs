using System.Buffers.Binary;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Loading.Support;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>Zip archives whose directory lies: every offset and size is checked against the file before use.</summary>
public sealed class ZipErrorTests
{
    private const int EndRecordSize = 22;
    private const int CentralHeaderSize = 46;

    /// <summary>
    /// The fixture as torch wrote it (torch always adds the Zip64 end record and locator, so the 64-bit fields are
    /// the ones read) and a crafted archive with only the classic 32-bit end record.
    /// </summary>
    public static TheoryData<string> Archives() => ["fixture (Zip64 end record)", "classic end record"];

    [Theory]
    [MemberData(nameof(Archives))]
    public void Central_directory_offset_outside_the_file_is_a_format_error(string archive)
    {
        using TempFile file = PatchedDirectory(archive, offset: 0xF0000000);
        Assert.Contains("the zip central directory", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Archives))]
    public void Central_directory_size_past_its_end_record_is_a_format_error(string archive)
    {
        using TempFile file = PatchedDirectory(archive, size: 0x7FFFFFFF);
        Assert.Contains("lies outside", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Archives))]
    public void Entry_count_larger_than_the_directory_can_hold_is_a_format_error(string archive)
    {
        using TempFile file = PatchedDirectory(archive, count: 60000);
        Assert.Contains("claims 60000 entries", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    /// <summary>A copy of the archive with end-record fields replaced (in the Zip64 record when there is one).</summary>
    private static TempFile PatchedDirectory(string archive, uint? offset = null, uint? size = null, ushort? count = null)
    {
        byte[] bytes = archive.StartsWith("fixture", StringComparison.Ordinal)
            ? (byte[])FixtureBytes.Get(Models.TinyBf16Pth).Clone()
            : TestZipWriter.Write(TestPth.Items(TestPth.SingleTensorPickle(), [("0", TestPth.Floats(1, 2, 3, 4, 5, 6))]));
        int end = bytes.Length - EndRecordSize;
        int zip64End = end - 20 - 56;
        bool hasZip64 = zip64End >= 0 && BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(zip64End)) == 0x06064b50;
        Assert.Equal(archive.StartsWith("fixture", StringComparison.Ordinal), hasZip64);
        if (hasZip64)
        {
            if (count is ushort c)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(zip64End + 24), c);
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(zip64End + 32), c);
            }

            if (size is uint z)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(zip64End + 40), z);
            }

            if (offset is uint o)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(zip64End + 48), o);
            }
        }
        else
        {
            if (count is ushort c)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(end + 8), c);
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(end + 10), c);
            }

            if (size is uint z)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(end + 12), z);
            }

            if (offset is uint o)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(end + 16), o);
            }
        }

        return new TempFile(bytes, ".pth");
    }

    [Fact]
    public void Entry_pointing_outside_the_file_is_refused_by_name()
    {
        // The first central directory entry is data.pkl; aim its local header offset past the end of the file.
        using TempFile file = TempFile.CopyOf(Models.TinyBf16Pth, bytes =>
        {
            int directory = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - EndRecordSize + 16));
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(directory + 42), (uint)bytes.Length + 100);
        });
        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);
        Assert.Contains("zip entry 'tiny-rwkv-7v0-834K-bf16/data.pkl' points to", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Entry_size_running_into_the_central_directory_is_refused_by_name()
    {
        using TempFile file = TempFile.CopyOf(Models.TinyBf16Pth, bytes =>
        {
            int directory = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - EndRecordSize + 16));
            int second = directory + CentralHeaderSize + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(directory + 28))
                + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(directory + 30)) + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(directory + 32));
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(second + 20), 0x7FFFFFF0); // compressed size of data/0
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(second + 24), 0x7FFFFFF0);
        });
        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);
        Assert.Contains("zip entry 'tiny-rwkv-7v0-834K-bf16/data/0' points to 2147483632 bytes", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Damaged_central_directory_record_is_a_format_error()
    {
        using TempFile file = TempFile.CopyOf(Models.TinyBf16Pth, bytes =>
        {
            int directory = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - EndRecordSize + 16));
            bytes[directory] = (byte)'X'; // first record's signature
        });
        Assert.Contains("central directory entry 0 is missing or damaged", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Damaged_local_header_is_refused_by_name()
    {
        // Crafted archive: the storage entry's local header follows data.pkl's (30 + name + data bytes).
        byte[] pickle = TestPth.SingleTensorPickle();
        List<ZipItem> items = TestPth.Items(pickle, [("0", TestPth.Floats(1, 2, 3, 4, 5, 6))]);
        byte[] archive = TestZipWriter.Write(items);
        int storageHeader = 30 + items[0].Name.Length + pickle.Length;
        Assert.Equal(0x04034b50u, BinaryPrimitives.ReadUInt32LittleEndian(archive.AsSpan(storageHeader)));
        archive[storageHeader + 2] = 0;
        using var file = new TempFile(archive, ".pth");

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains("zip entry 'archive/data/0' does not start with a local file header signature", e.Detail, StringComparison.Ordinal);
        Assert.Equal(storageHeader, e.Offset);
    }

    [Fact]
    public void Local_header_extra_length_pushing_data_past_the_end_is_refused_by_name()
    {
        byte[] pickle = TestPth.SingleTensorPickle();
        List<ZipItem> items = TestPth.Items(pickle, [("0", TestPth.Floats(1, 2, 3, 4, 5, 6))]);
        byte[] archive = TestZipWriter.Write(items);
        int storageHeader = 30 + items[0].Name.Length + pickle.Length;
        BinaryPrimitives.WriteUInt16LittleEndian(archive.AsSpan(storageHeader + 28), ushort.MaxValue);
        using var file = new TempFile(archive, ".pth");

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains("the data of zip entry 'archive/data/0'", e.Detail, StringComparison.Ordinal);
        Assert.Contains("runs past the end", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Zip64_locator_pointing_outside_the_file_is_a_format_error()
    {
        byte[] archive = TestZipWriter.Write(TestPth.Items(TestPth.SingleTensorPickle(), [("0", TestPth.Floats(1, 2, 3, 4, 5, 6))]), forceZip64: true);
        int locator = archive.Length - EndRecordSize - 20;
        Assert.Equal(0x07064b50u, BinaryPrimitives.ReadUInt32LittleEndian(archive.AsSpan(locator)));
        BinaryPrimitives.WriteUInt64LittleEndian(archive.AsSpan(locator + 8), 1UL << 62);
        using var file = new TempFile(archive, ".pth");

        Assert.Contains("Zip64 locator points to byte 4611686018427387904", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Zip64_directory_offset_outside_the_file_is_a_format_error()
    {
        byte[] archive = TestZipWriter.Write(TestPth.Items(TestPth.SingleTensorPickle(), [("0", TestPth.Floats(1, 2, 3, 4, 5, 6))]), forceZip64: true);
        int zip64End = archive.Length - EndRecordSize - 20 - 56;
        Assert.Equal(0x06064b50u, BinaryPrimitives.ReadUInt32LittleEndian(archive.AsSpan(zip64End)));
        BinaryPrimitives.WriteUInt64LittleEndian(archive.AsSpan(zip64End + 48), ulong.MaxValue - 5); // directory offset
        using var file = new TempFile(archive, ".pth");

        Assert.Contains("larger than any file", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Zip64_entry_without_its_extra_field_is_a_format_error()
    {
        // Saturated 32-bit sizes in the central directory but the Zip64 extra field stripped (its id changed).
        byte[] archive = TestZipWriter.Write(TestPth.Items(TestPth.SingleTensorPickle(), [("0", TestPth.Floats(1, 2, 3, 4, 5, 6))]), forceZip64: true);
        int zip64End = archive.Length - EndRecordSize - 20 - 56;
        int directory = (int)BinaryPrimitives.ReadUInt64LittleEndian(archive.AsSpan(zip64End + 48));
        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(archive.AsSpan(directory + 28));
        BinaryPrimitives.WriteUInt16LittleEndian(archive.AsSpan(directory + CentralHeaderSize + nameLength), 0x9999);
        using var file = new TempFile(archive, ".pth");

        Assert.Contains("no Zip64 extra field", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_magic_is_not_recognized()
    {
        using TempFile file = TempFile.CopyOf(Models.TinyBf16Pth, bytes => bytes[0] = (byte)'X');
        Assert.Contains("not a recognized checkpoint", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Zip_without_an_end_record_is_a_format_error()
    {
        using TempFile file = TempFile.CopyOf(Models.TinyBf16Pth, bytes => bytes[^EndRecordSize] = 0);
        Assert.Contains("no zip End of Central Directory record", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }
}
