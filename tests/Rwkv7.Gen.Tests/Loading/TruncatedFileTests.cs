using System.Buffers.Binary;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Loading.Support;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// Every fixture cut short at many offsets (the start, inside and just after each header, mid-tensor, the last
/// byte missing, and an even sweep) is rejected with a typed error naming the file: never a crash, hang or
/// large allocation.
/// </summary>
public sealed class TruncatedFileTests
{
    private const int SweepPoints = 24;

    public static TheoryData<string> SweptFiles() =>
        [Models.TinyFp16Bin, Models.TinyBf16Pth, Models.Mh4Pth, Models.TinyBf16Safetensors, Models.TinyQ4Gguf, Models.Mh4Q4KmGguf];

    public static TheoryData<string> AllFiles() => [.. Models.TinyFiles, .. Models.Mh4Files];

    [Theory]
    [MemberData(nameof(SweptFiles))]
    public void Truncation_sweep_is_rejected_at_every_offset(string file)
    {
        long length = FixtureBytes.Get(file).Length;
        var offsets = new SortedSet<long> { 0, 1, 7, 8, 23, 24, 100, length / 2, length - 1 };
        for (int k = 1; k < SweepPoints; k++)
        {
            offsets.Add(length * k / SweepPoints);
        }

        foreach (long offset in offsets)
        {
            using TempFile cut = TempFile.Truncated(file, offset);
            MalformedFile.AssertRejected(cut.Path);
        }
    }

    [Theory]
    [MemberData(nameof(AllFiles))]
    public void Last_byte_missing_is_a_format_error(string file)
    {
        using TempFile cut = TempFile.Truncated(file, FixtureBytes.Get(file).Length - 1);
        MalformedFile.AssertFormatError(cut.Path);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void Files_too_short_to_sniff_are_format_errors(int length)
    {
        using TempFile cut = TempFile.Truncated(Models.TinyFp32Bin, length);
        RwkvFormatException e = MalformedFile.AssertFormatError(cut.Path);
        Assert.Contains("too short", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Rwkv_cpp_cut_inside_header_record_name_or_data_is_a_format_error()
    {
        byte[] file = FixtureBytes.Get(Models.TinyFp32Bin);
        List<int> records = TestRwkvCpp.RecordOffsets(file);
        int first = records[0]; // emb.weight: 12-byte record header, 2 dims, 10-byte name, data
        int firstData = first + 12 + 8 + "emb.weight".Length;
        (long Offset, string Expected)[] cuts =
        [
            (12, "header"),
            (TestRwkvCpp.HeaderBytes, "n_layer 12 but the tensors cover 0 blocks"),
            (first + 5, "inside the header of tensor #0"),
            (first + 12 + 4, "dimensions or name of tensor #0"),
            (first + 12 + 8 + 3, "dimensions or name of tensor #0"),
            (firstData, "inside the data of tensor 'emb.weight'"),
            (firstData + 1000, "inside the data of tensor 'emb.weight'"),
            (records[^1] + 1, "inside the header of tensor #338"),
            (file.Length - 1, "inside the data of tensor 'head.weight'"),
        ];
        foreach ((long offset, string expected) in cuts)
        {
            using TempFile cut = TempFile.Truncated(Models.TinyFp32Bin, offset);
            RwkvFormatException e = MalformedFile.AssertFormatError(cut.Path);
            Assert.Contains(expected, e.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Rwkv_cpp_cut_at_a_record_boundary_inside_the_blocks_contradicts_the_header()
    {
        byte[] file = FixtureBytes.Get(Models.TinyFp32Bin);
        List<int> records = TestRwkvCpp.RecordOffsets(file);
        using TempFile cut = TempFile.Truncated(Models.TinyFp32Bin, records[records.Count / 2]);
        RwkvFormatException e = MalformedFile.AssertFormatError(cut.Path);
        Assert.Contains("header says n_layer 12", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Rwkv_cpp_cut_after_the_last_block_lists_the_missing_tensors()
    {
        byte[] file = FixtureBytes.Get(Models.TinyFp32Bin);
        List<int> records = TestRwkvCpp.RecordOffsets(file);
        using TempFile cut = TempFile.Truncated(Models.TinyFp32Bin, records[^3]); // before ln_out.weight, ln_out.bias, head.weight
        RwkvShapeException e = Assert.IsType<RwkvShapeException>(MalformedFile.AssertRejected(cut.Path));
        Assert.Equal(["ln_out.weight", "ln_out.bias", "head.weight"], e.Problems.Select(p => p.TensorName));
        Assert.All(e.Problems, p => Assert.Equal("missing", p.Actual));
        Assert.Equal("(256, 64)", e.Problems[2].Expected);
    }

    [Theory]
    [InlineData(Models.TinyBf16Pth)]
    [InlineData(Models.TinyFp32Pth)]
    public void Pth_cut_around_the_central_directory_is_a_format_error(string file)
    {
        byte[] bytes = FixtureBytes.Get(file);
        int endRecord = bytes.Length - 22; // no archive comment in torch files
        Assert.Equal(0x06054b50u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(endRecord)));
        long directory = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(endRecord + 16));
        foreach (long offset in new[] { 30L, 200, directory - 1, directory, directory + 46, endRecord, endRecord + 21 })
        {
            using TempFile cut = TempFile.Truncated(file, offset);
            RwkvFormatException e = MalformedFile.AssertFormatError(cut.Path);
            Assert.Contains("End of Central Directory", e.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Safetensors_cut_after_the_header_names_a_tensor_outside_the_data()
    {
        byte[] bytes = FixtureBytes.Get(Models.TinyBf16Safetensors);
        long dataStart = 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        foreach (long offset in new[] { dataStart, dataStart + 1, dataStart + 5000, bytes.Length - 1L })
        {
            using TempFile cut = TempFile.Truncated(Models.TinyBf16Safetensors, offset);
            RwkvFormatException e = MalformedFile.AssertFormatError(cut.Path);
            Assert.Contains("tensor '", e.Detail, StringComparison.Ordinal);
            Assert.Contains("outside the data section", e.Detail, StringComparison.Ordinal);
        }

        // Cut inside the JSON header: the length field no longer fits, so nothing recognizes the file.
        using TempFile inHeader = TempFile.Truncated(Models.TinyBf16Safetensors, dataStart - 1);
        Assert.Contains("not a recognized checkpoint", MalformedFile.AssertFormatError(inHeader.Path).Detail, StringComparison.Ordinal);
    }
}
