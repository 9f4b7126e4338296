using System.Buffers.Binary;
using System.Text;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Loading.Support;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// Malformed or unsupported .pth checkpoints: each is a typed format error naming the file and, where one is
/// involved, the tensor, the global or the opcode (with its offset).
/// </summary>
public sealed class PthErrorTests
{
    private static readonly byte[] SixFloats = TestPth.Floats(1, 2, 3, 4, 5, 6);

    [Theory]
    [InlineData((byte)'g', "0x67 GET", "pickle opcode GET is not supported")]
    [InlineData((byte)'i', "0x69 INST", "pickle opcode INST is not supported")]
    [InlineData((byte)0x92, "0x92 NEWOBJ_EX", "pickle opcode NEWOBJ_EX is not supported")]
    [InlineData((byte)0xFF, "0xFF unknown", "not a pickle opcode")]
    public void Unsupported_opcode_in_a_fixture_is_named_with_its_offset(byte opcode, string named, string detail)
    {
        // The fixture's pickle is its first entry, stored: its data follows the 30-byte local header, name and extra.
        byte[] original = FixtureBytes.Get(Models.TinyFp32Pth);
        long pickleStart = 30 + BinaryPrimitives.ReadUInt16LittleEndian(original.AsSpan(26)) + BinaryPrimitives.ReadUInt16LittleEndian(original.AsSpan(28));
        const int PatchAt = 2; // after PROTO 2: EMPTY_DICT
        Assert.Equal((byte)'}', original[pickleStart + PatchAt]);
        using TempFile file = TempFile.CopyOf(Models.TinyFp32Pth, bytes => bytes[pickleStart + PatchAt] = opcode);

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains(named, e.Detail, StringComparison.Ordinal);
        Assert.Contains(detail, e.Detail, StringComparison.Ordinal);
        Assert.Contains("data.pkl", e.Detail, StringComparison.Ordinal);
        Assert.Equal(pickleStart + PatchAt, e.Offset);
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("torch", "load")]
    [InlineData("torch._utils", "_rebuild_qtensor")]
    public void Globals_outside_the_whitelist_are_refused_by_name(string module, string name)
    {
        byte[] pickle = TestPth.SingleTensorPickle(p => p.Unicode("x").Global(module, name).EmptyTuple().Reduce());
        using TempFile file = TestPth.Write(pickle, ("0", SixFloats));

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains($"global '{module}.{name}' is not allowed", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Stack_global_outside_the_whitelist_is_refused_too()
    {
        byte[] pickle = new PickleBuilder().Proto(4).StackGlobal("subprocess", "Popen").Stop().ToArray();
        using TempFile file = TestPth.Write(pickle);
        Assert.Contains("'subprocess.Popen'", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Integer_storage_is_refused_naming_tensor_and_type()
    {
        byte[] pickle = new PickleBuilder().Proto(2).EmptyDict().Mark()
            .Unicode("blocks.0.att.step").Tensor("LongStorage", "0", 3, 0, [3], [1])
            .SetItems().Stop().ToArray();
        using TempFile file = TestPth.Write(pickle, ("0", new byte[24]));

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains("tensor 'blocks.0.att.step' is stored as torch.LongStorage", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Non_contiguous_tensor_is_refused_by_name()
    {
        byte[] pickle = new PickleBuilder().Proto(2).EmptyDict().Mark()
            .Unicode("blocks.0.att.key.weight").Tensor("FloatStorage", "0", 6, 0, [2, 3], [1, 2])
            .SetItems().Stop().ToArray();
        using TempFile file = TestPth.Write(pickle, ("0", SixFloats));

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains("tensor 'blocks.0.att.key.weight' is not contiguous", e.Detail, StringComparison.Ordinal);
        Assert.Contains("stride (1, 2)", e.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, 6, "does not fit in storage")] // offset 1 + 6 elements > 6
    [InlineData(-1, 6, "does not fit in storage")]
    [InlineData(0, 100, "claims 100 elements")] // the storage claims more than its entry holds
    public void Tensor_outside_its_storage_is_refused_by_name(long offset, long storageElements, string detail)
    {
        byte[] pickle = new PickleBuilder().Proto(2).EmptyDict().Mark()
            .Unicode("emb.weight").Tensor("FloatStorage", "0", storageElements, offset, [2, 3], [3, 1])
            .SetItems().Stop().ToArray();
        using TempFile file = TestPth.Write(pickle, ("0", SixFloats));

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains("tensor 'emb.weight'", e.Detail, StringComparison.Ordinal);
        Assert.Contains(detail, e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Non_tensor_value_is_refused_naming_its_key()
    {
        byte[] pickle = TestPth.SingleTensorPickle(p => p.Unicode("step").Int(1234));
        using TempFile file = TestPth.Write(pickle, ("0", SixFloats));

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains("state dict entry 'step' is int 1234, not a tensor", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Top_level_that_is_not_a_dict_is_refused()
    {
        byte[] pickle = new PickleBuilder().Proto(2).EmptyList().Stop().ToArray();
        using TempFile file = TestPth.Write(pickle);

        Assert.Contains("list of 0, not a dict of tensors", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_storage_entry_names_the_tensor_and_the_entry()
    {
        using TempFile file = TestPth.Write(TestPth.SingleTensorPickle(), ("1", SixFloats));

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains("tensor 'w': its storage entry 'archive/data/0' is missing", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Compressed_tensor_data_is_refused_by_name()
    {
        List<ZipItem> items = TestPth.Items(TestPth.SingleTensorPickle(), [("0", SixFloats)]);
        items[1] = items[1] with { Deflate = true };
        using var file = new TempFile(TestZipWriter.Write(items), ".pth");

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains("tensor 'w': archive entry 'archive/data/0' is compressed", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Archive_without_a_pickle_is_refused()
    {
        using var file = new TempFile(TestZipWriter.Write([new ZipItem("model/data/0", SixFloats)]), ".pth");
        Assert.Contains("no '<folder>/data.pkl' entry", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Archive_with_two_pickles_is_refused()
    {
        byte[] pickle = TestPth.SingleTensorPickle();
        List<ZipItem> items = [.. TestPth.Items(pickle, [("0", SixFloats)]), new ZipItem("other/data.pkl", pickle)];
        using var file = new TempFile(TestZipWriter.Write(items), ".pth");
        Assert.Contains("two pickles", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Big_endian_checkpoint_is_refused()
    {
        List<ZipItem> items = TestPth.Items(TestPth.SingleTensorPickle(), [("0", SixFloats)]);
        items.Add(new ZipItem($"{TestPth.Folder}/byteorder", Encoding.ASCII.GetBytes("big")));
        using var file = new TempFile(TestZipWriter.Write(items), ".pth");
        Assert.Contains("byte order is 'big'", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Little_endian_byteorder_entry_is_accepted()
    {
        List<ZipItem> items = TestPth.Items(TestPth.SingleTensorPickle(), [("0", SixFloats)]);
        items.Add(new ZipItem($"{TestPth.Folder}/byteorder", Encoding.ASCII.GetBytes("little")));
        using var file = new TempFile(TestZipWriter.Write(items), ".pth");
        using Rwkv7.Gen.Loading.Checkpoint checkpoint = Rwkv7.Gen.Loading.Checkpoint.Open(file.Path);
        Assert.Single(checkpoint.Tensors);
    }
}
