using System.Buffers.Binary;
using System.Text;

namespace Rwkv7.Gen.Tests.Loading.Support;

/// <summary>
/// Emits pickle opcodes one by one, so tests can write exactly the pickles torch.save produces (and the
/// malformed ones it never would). Opcode bytes are spelled out here on purpose, independent of the runtime's table.
/// </summary>
public sealed class PickleBuilder
{
    private readonly List<byte> _bytes = [];

    public byte[] ToArray() => [.. _bytes];

    public PickleBuilder Raw(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    public PickleBuilder Proto(byte version) => Raw(0x80, version);

    public PickleBuilder Frame(ulong length)
    {
        Raw(0x95);
        return UInt64(length);
    }

    public PickleBuilder Stop() => Raw((byte)'.');

    public PickleBuilder Mark() => Raw((byte)'(');

    public PickleBuilder EmptyDict() => Raw((byte)'}');

    public PickleBuilder EmptyTuple() => Raw((byte)')');

    public PickleBuilder EmptyList() => Raw((byte)']');

    public PickleBuilder Tuple() => Raw((byte)'t');

    public PickleBuilder Tuple1() => Raw(0x85);

    public PickleBuilder Tuple2() => Raw(0x86);

    public PickleBuilder Tuple3() => Raw(0x87);

    public PickleBuilder None() => Raw((byte)'N');

    public PickleBuilder Bool(bool value) => Raw(value ? (byte)0x88 : (byte)0x89);

    public PickleBuilder SetItem() => Raw((byte)'s');

    public PickleBuilder SetItems() => Raw((byte)'u');

    public PickleBuilder Append() => Raw((byte)'a');

    public PickleBuilder Appends() => Raw((byte)'e');

    public PickleBuilder Reduce() => Raw((byte)'R');

    public PickleBuilder NewObj() => Raw(0x81);

    public PickleBuilder Build() => Raw((byte)'b');

    public PickleBuilder BinPersId() => Raw((byte)'Q');

    public PickleBuilder Memoize() => Raw(0x94);

    public PickleBuilder BinPut(byte index) => Raw((byte)'q', index);

    public PickleBuilder LongBinPut(uint index)
    {
        Raw((byte)'r');
        return UInt32(index);
    }

    public PickleBuilder BinGet(byte index) => Raw((byte)'h', index);

    public PickleBuilder LongBinGet(uint index)
    {
        Raw((byte)'j');
        return UInt32(index);
    }

    /// <summary>The shortest integer opcode for the value, as pickle writes it.</summary>
    public PickleBuilder Int(long value)
    {
        if (value is >= 0 and <= byte.MaxValue)
        {
            return Raw((byte)'K', (byte)value);
        }

        if (value is >= 0 and <= ushort.MaxValue)
        {
            Raw((byte)'M');
            byte[] b = new byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)value);
            return Raw(b);
        }

        if (value is >= int.MinValue and <= int.MaxValue)
        {
            Raw((byte)'J');
            byte[] b = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)value);
            return Raw(b);
        }

        return Long1(value);
    }

    /// <summary>LONG1 with the full 8 bytes of two's complement.</summary>
    public PickleBuilder Long1(long value)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, value);
        Raw(0x8a, 8);
        return Raw(b);
    }

    public PickleBuilder BinFloat(double value)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(b, value);
        Raw((byte)'G');
        return Raw(b);
    }

    /// <summary>BINUNICODE (4-byte length), what protocol 2 writes for every str.</summary>
    public PickleBuilder Unicode(string value)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(value);
        Raw((byte)'X');
        UInt32((uint)utf8.Length);
        return Raw(utf8);
    }

    /// <summary>SHORT_BINUNICODE (1-byte length), protocol 4.</summary>
    public PickleBuilder ShortUnicode(string value)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(value);
        Raw(0x8c, checked((byte)utf8.Length));
        return Raw(utf8);
    }

    /// <summary>BINUNICODE8 (8-byte length), protocol 4.</summary>
    public PickleBuilder Unicode8(string value)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(value);
        Raw(0x8d);
        UInt64((ulong)utf8.Length);
        return Raw(utf8);
    }

    public PickleBuilder Global(string module, string name) =>
        Raw((byte)'c').Raw(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));

    public PickleBuilder StackGlobal(string module, string name) =>
        ShortUnicode(module).ShortUnicode(name).Raw(0x93);

    /// <summary>
    /// The sequence torch.save (protocol 2) writes for one tensor: <c>_rebuild_tensor_v2(persistent storage id,
    /// offset, size, stride, False, OrderedDict())</c>, leaving the tensor on the stack.
    /// </summary>
    public PickleBuilder Tensor(string storageType, string storageKey, long storageElements, long offset, long[] size, long[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2");
        Mark();
        Mark().Unicode("storage").Global("torch", storageType).Unicode(storageKey).Unicode("cpu").Int(storageElements).Tuple();
        BinPersId();
        Int(offset);
        IntTuple(size);
        IntTuple(stride);
        Bool(false);
        Global("collections", "OrderedDict").EmptyTuple().Reduce();
        Tuple();
        return Reduce();
    }

    public PickleBuilder IntTuple(long[] values)
    {
        Mark();
        foreach (long v in values)
        {
            Int(v);
        }

        return Tuple();
    }

    private PickleBuilder UInt32(uint value)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return Raw(b);
    }

    private PickleBuilder UInt64(ulong value)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        return Raw(b);
    }
}
