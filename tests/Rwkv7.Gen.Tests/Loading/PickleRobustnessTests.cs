using Rwkv7.Gen.Tests.Loading.Support;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// Hostile pickles inside an otherwise valid archive: lying lengths, runaway nesting, dangling memo references,
/// stack underflow. Each is a format error found before any large allocation, in bounded time.
/// </summary>
public sealed class PickleRobustnessTests
{
    public static TheoryData<string, byte[], string> Cases() => new()
    {
        { "no STOP", new PickleBuilder().Proto(2).EmptyDict().ToArray(), "ends without a STOP" },
        { "empty pickle", [], "ends without a STOP" },
        { "newer protocol", new PickleBuilder().Proto(6).EmptyDict().Stop().ToArray(), "protocol 6" },
        { "BINUNICODE length past the end", new PickleBuilder().Proto(2).Raw((byte)'X', 0xF0, 0xFF, 0xFF, 0xFF).Raw(1, 2, 3).ToArray(), "string length 4294967280 exceeds" },
        { "BINUNICODE8 length 2^62", new PickleBuilder().Proto(4).Raw(0x8d, 0, 0, 0, 0, 0, 0, 0, 0x40).Stop().ToArray(), "exceeds" },
        { "BINBYTES length past the end", new PickleBuilder().Proto(3).Raw((byte)'B', 0, 0, 0, 0x7F).Stop().ToArray(), "bytes length 2130706432 exceeds" },
        { "BINSTRING negative length", new PickleBuilder().Proto(2).Raw((byte)'T', 0xFF, 0xFF, 0xFF, 0xFF).Stop().ToArray(), "string length -1 exceeds" },
        { "FRAME longer than the pickle", new PickleBuilder().Proto(4).Frame(1UL << 40).EmptyDict().Stop().ToArray(), "frame length" },
        { "argument cut off", new PickleBuilder().Proto(2).Raw((byte)'J', 1, 2).ToArray(), "ends inside an opcode argument" },
        { "GLOBAL without newline", new PickleBuilder().Proto(2).Raw((byte)'c').Raw("torch"u8.ToArray()).ToArray(), "inside a GLOBAL name" },
        { "LONG1 of 200 bytes", new PickleBuilder().Proto(2).Raw(0x8a, 200).Raw(new byte[200]).Stop().ToArray(), "does not fit in 64 bits" },
        { "LONG4 negative length", new PickleBuilder().Proto(2).Raw(0x8b, 0xFF, 0xFF, 0xFF, 0xFF).Stop().ToArray(), "integer length -1 exceeds" },
        { "memo never stored", new PickleBuilder().Proto(2).LongBinGet(123456).Stop().ToArray(), "memo entry 123456 was never stored" },
        { "REDUCE on an empty stack", new PickleBuilder().Proto(2).Reduce().Stop().ToArray(), "stack underflow" },
        { "pop through a mark", new PickleBuilder().Proto(2).EmptyDict().Mark().Unicode("k").SetItem().Stop().ToArray(), "stack underflow" },
        { "TUPLE without MARK", new PickleBuilder().Proto(2).Int(1).Tuple().Stop().ToArray(), "no MARK" },
        { "SETITEMS with odd items", new PickleBuilder().Proto(2).EmptyDict().Mark().Unicode("k").SetItems().Stop().ToArray(), "odd number" },
        { "SETITEM on a list", new PickleBuilder().Proto(2).EmptyList().Unicode("k").Int(1).SetItem().Stop().ToArray(), "cannot set items on list" },
        { "APPEND on a dict", new PickleBuilder().Proto(2).EmptyDict().Int(1).Append().Stop().ToArray(), "cannot append to dict" },
        { "two values at STOP", new PickleBuilder().Proto(2).EmptyDict().EmptyDict().Stop().ToArray(), "expected exactly one value" },
        { "calling a non-global", new PickleBuilder().Proto(2).Unicode("f").EmptyTuple().Reduce().Stop().ToArray(), "cannot call str 'f'" },
        { "REDUCE with non-tuple args", new PickleBuilder().Proto(2).Global("collections", "OrderedDict").EmptyList().Reduce().Stop().ToArray(), "arguments must be a tuple" },
        { "calling a storage type", new PickleBuilder().Proto(2).Global("torch", "FloatStorage").EmptyTuple().Reduce().Stop().ToArray(), "torch.FloatStorage cannot be called" },
        { "NEWOBJ of a function", new PickleBuilder().Proto(2).Global("torch._utils", "_rebuild_tensor_v2").EmptyTuple().NewObj().Stop().ToArray(), "NEWOBJ needs a class" },
        { "bad persistent id", new PickleBuilder().Proto(2).Unicode("storage").Tuple1().BinPersId().Stop().ToArray(), "is not ('storage'" },
        { "rebuild with 2 arguments", new PickleBuilder().Proto(2).Global("torch._utils", "_rebuild_tensor_v2").Int(1).Int(2).Tuple2().Reduce().Stop().ToArray(), "takes 6 or 7 arguments" },
        { "BUILD on an int", new PickleBuilder().Proto(2).Int(1).EmptyDict().Build().Stop().ToArray(), "BUILD on int 1" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Malformed_pickle_is_a_format_error(string what, byte[] pickle, string detail)
    {
        using TempFile file = TestPth.Write(pickle);

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.True(e.Detail.Contains(detail, StringComparison.Ordinal), $"{what}: '{e.Detail}' should contain '{detail}'");
        Assert.NotNull(e.Offset);
    }

    [Fact]
    public void Runaway_mark_nesting_is_capped()
    {
        var p = new PickleBuilder().Proto(2);
        for (int i = 0; i < 5000; i++)
        {
            p.Mark();
        }

        using TempFile file = TestPth.Write(p.Stop().ToArray());
        Assert.Contains("nested marks", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Deeply_nested_tuples_need_no_recursion()
    {
        // 100k levels of (((...),),): a recursive reader would overflow its stack; this one just refuses the root.
        // Each one-byte TUPLE1 creates a 32-byte array, so only a linear bound holds for such a pickle (the
        // pickle itself is capped at PthReader.MaxPickleBytes).
        var p = new PickleBuilder().Proto(2).EmptyTuple();
        for (int i = 0; i < 100_000; i++)
        {
            p.Tuple1();
        }

        using TempFile file = TestPth.Write(p.Stop().ToArray());
        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path, allocationFactor: ObjectFloodAllocationFactor);
        Assert.Contains("tuple of 1, not a dict of tensors", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Stack_flood_is_capped_within_the_default_allocation_bound()
    {
        // 300k one-byte pushes: refused when the stack passes its cap, long before the end of the pickle.
        var p = new PickleBuilder().Proto(2).Mark();
        for (int i = 0; i < 300_000; i++)
        {
            p.None();
        }

        using TempFile file = TestPth.Write(p.Raw((byte)'l').Stop().ToArray());
        Assert.Contains("values on the stack", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Memo_flood_allocates_linearly()
    {
        // 300k one-byte MEMOIZE opcodes each store a slot (8 bytes): linear in the pickle, then a normal failure.
        var p = new PickleBuilder().Proto(4).EmptyList();
        for (int i = 0; i < 300_000; i++)
        {
            p.Memoize();
        }

        using TempFile file = TestPth.Write(p.LongBinGet(299_999).Append().Stop().ToArray());
        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path, allocationFactor: ObjectFloodAllocationFactor);
        Assert.Contains("list of 1, not a dict of tensors", e.Detail, StringComparison.Ordinal);
    }

    /// <summary>Allocation allowed per pickle byte for pickles made only of one-byte, object-creating opcodes.</summary>
    private const int ObjectFloodAllocationFactor = 48;
}
