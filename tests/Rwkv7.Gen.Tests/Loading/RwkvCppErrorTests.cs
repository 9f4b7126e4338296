using System.Buffers.Binary;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Loading.Support;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>rwkv.cpp files with absurd or unsupported header and record fields.</summary>
public sealed class RwkvCppErrorTests
{
    private const int FirstRecord = TestRwkvCpp.HeaderBytes;

    [Theory]
    [InlineData(int.MaxValue, "claims a name of 2147483647 bytes")]
    [InlineData(-1, "claims a name of -1 bytes")]
    [InlineData(0, "claims a name of 0 bytes")]
    [InlineData(1025, "claims a name of 1025 bytes")]
    public void Absurd_name_length_in_the_fixture_is_a_format_error(int nameLength, string detail)
    {
        using TempFile file = TempFile.CopyOf(Models.TinyFp32Bin, bytes =>
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(FirstRecord + 4), nameLength));

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains("tensor #0 " + detail, e.Detail, StringComparison.Ordinal);
        Assert.Equal(FirstRecord + 4, e.Offset);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(-7)]
    [InlineData(1_000_000_000)]
    public void Absurd_dimension_count_in_the_fixture_is_a_format_error(int dimCount)
    {
        using TempFile file = TempFile.CopyOf(Models.TinyFp32Bin, bytes =>
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(FirstRecord), dimCount));

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains($"tensor #0 claims {dimCount} dimensions", e.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-64)]
    public void Non_positive_dimension_is_refused_by_name(int dim)
    {
        using TempFile file = TempFile.CopyOf(Models.TinyFp32Bin, bytes =>
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(FirstRecord + 12), dim));
        Assert.Contains($"tensor 'emb.weight' has a dimension of size {dim}", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Dimensions_whose_data_cannot_fit_are_refused_by_name()
    {
        RwkvCppRecord huge = new("emb.weight", [65536, 65536, 65536, 65536], 0, new byte[16]);
        using var file = new TempFile(TestRwkvCpp.Write(TestRwkvCpp.Header(256, 64, 1), [huge]), ".bin");
        Assert.Contains("file ends inside the data of tensor 'emb.weight' (65536, 65536, 65536, 65536)", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(9)]
    public void Quantized_tensor_is_refused_by_name(int type)
    {
        (int[] header, List<RwkvCppRecord> records) = TestRwkvCpp.Parse(FixtureBytes.Get(Models.TinyFp16Bin));
        int key = records.FindIndex(r => r.Name == "blocks.0.att.key.weight");
        records[key] = records[key] with { DataType = type, Data = new byte[64 * 64 / 2] };
        using var file = new TempFile(TestRwkvCpp.Write(header, records), ".bin");

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains($"tensor 'blocks.0.att.key.weight' has rwkv.cpp data type {type}: quantized rwkv.cpp types are not supported", e.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(-1)]
    public void Unknown_tensor_data_type_is_refused_by_name(int type)
    {
        using TempFile file = TempFile.CopyOf(Models.TinyFp32Bin, bytes =>
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(FirstRecord + 8), type));
        Assert.Contains($"tensor 'emb.weight' has data type {type}", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(4, 99, "version 99 is not supported")]
    [InlineData(4, 102, "version 102 is not supported")]
    [InlineData(8, 0, "n_vocab 0")]
    [InlineData(12, -64, "n_embed -64")]
    [InlineData(20, 77, "data type 77 is not an rwkv.cpp data type")]
    [InlineData(8, 300, "tensor 'emb.weight' is (256, 64) but the header says n_vocab 300 and n_embed 64")]
    [InlineData(16, 13, "the header says n_layer 13 but the tensors cover 12 blocks")]
    [InlineData(16, 11, "tensor 'blocks.11.ln1.weight' belongs to block 11 but the header says n_layer 11")]
    public void Header_fields_are_checked(int offset, int value, string detail)
    {
        using TempFile file = TempFile.CopyOf(Models.TinyFp32Bin, bytes =>
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), value));
        Assert.Contains(detail, MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_magic_is_not_recognized()
    {
        using TempFile file = TempFile.CopyOf(Models.TinyFp32Bin, bytes => bytes[0] ^= 0x01);
        Assert.Contains("not a recognized checkpoint", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_utf8_name_is_a_format_error()
    {
        byte[] file = TestRwkvCpp.Write(TestRwkvCpp.Header(256, 64, 1), [new RwkvCppRecord("embXweight", [64, 256], 0, new byte[256 * 64 * 4])]);
        int name = FirstRecord + 12 + 8; // after the record header and two dims
        Assert.Equal((byte)'X', file[name + 3]);
        file[name + 3] = 0xFF; // never valid in UTF-8
        using var temp = new TempFile(file, ".bin");

        RwkvFormatException e = MalformedFile.AssertFormatError(temp.Path);

        Assert.Contains("the name of tensor #0 is not valid UTF-8", e.Detail, StringComparison.Ordinal);
        Assert.Equal(name, e.Offset);
    }

    [Fact]
    public void Merged_token_shift_of_the_wrong_shape_is_refused_by_name()
    {
        (int[] header, List<RwkvCppRecord> records) = TestRwkvCpp.Parse(FixtureBytes.Get(Models.TinyFp32Bin));
        int merged = records.FindIndex(r => r.Name == "blocks.3.att.x_rwkvag");
        Assert.Equal([64, 1, 6], records[merged].StoredDims);
        records[merged] = records[merged] with { StoredDims = [64, 6] };
        using var file = new TempFile(TestRwkvCpp.Write(header, records), ".bin");

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains("tensor 'blocks.3.att.x_rwkvag' is (6, 64); expected (6, 1, C)", e.Detail, StringComparison.Ordinal);
    }
}
