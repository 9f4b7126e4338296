using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Rwkv7.Gen.Loading.Pickle;

/// <summary>
/// A pickle interpreter for the subset <c>torch.save</c> writes for a state dict (protocol 2, and the
/// protocol 3-5 opcodes that come cheap). It is a flat loop over the opcodes: no recursion, every length is
/// checked against the bytes left before anything is allocated, the stack and mark depths are capped, and
/// every opcode consumes at least one byte, so it always ends. Only whitelisted globals are built
/// (<see cref="TorchGlobals"/>); tensors come out as <see cref="TorchTensor"/> descriptions, never data.
/// </summary>
internal sealed class PickleReader
{
    /// <summary>Highest pickle protocol accepted.</summary>
    public const int MaxProtocol = 5;

    /// <summary>Most values the stack may hold (torch.save batches SETITEMS by 1000, so a state dict needs ~2000).</summary>
    public const int MaxStackDepth = 1 << 16;

    /// <summary>Most memo entries (torch.save stores about 8 per tensor: a 13B checkpoint needs ~16 000).</summary>
    public const int MaxMemoEntries = 1 << 20;

    /// <summary>Most MARKs open at once (torch.save nests three or four).</summary>
    public const int MaxMarkDepth = 1 << 10;

    private const int SmallIntegerCacheSize = 1024;
    private static readonly object?[] EmptyTuple = [];
    private static readonly object TrueValue = true;
    private static readonly object FalseValue = false;
    private static readonly object[] SmallIntegers = CreateSmallIntegers();

    private readonly byte[] _data;
    private readonly List<object?> _stack = [];
    private readonly Stack<int> _marks = new();
    private readonly PickleMemo _memo = new(MaxMemoEntries);
    private readonly Dictionary<string, TorchStorage> _storages = new(StringComparer.Ordinal);
    private int _pos;

    private PickleReader(byte[] data)
    {
        _data = data;
    }

    /// <summary>
    /// Runs the pickle and returns the object it builds.
    /// </summary>
    /// <param name="data">The pickle bytes.</param>
    /// <param name="filePath">The file, for error messages.</param>
    /// <param name="what">What the bytes are (e.g. the archive entry name), for error messages.</param>
    /// <param name="fileOffset">File offset of <paramref name="data"/>[0], so errors point at the opcode in the file.</param>
    /// <exception cref="RwkvFormatException">The pickle is malformed or uses something not supported.</exception>
    public static object? Load(byte[] data, string filePath, string what, long fileOffset)
    {
        var reader = new PickleReader(data);
        int opcodeStart = 0;
        byte opcode = 0;
        try
        {
            while (true)
            {
                if (reader._pos >= data.Length)
                {
                    throw new InvalidPickleException("the pickle ends without a STOP opcode");
                }

                opcodeStart = reader._pos;
                opcode = data[reader._pos++];
                if (opcode == PickleOpcodes.Stop)
                {
                    return reader.Finish();
                }

                reader.Execute(opcode);
            }
        }
        catch (InvalidPickleException e)
        {
            string name = PickleOpcodes.NameOf(opcode) ?? "unknown";
            throw new RwkvFormatException(
                filePath, $"{what}: {e.Message} (opcode 0x{opcode:X2} {name} at pickle byte {opcodeStart})", fileOffset + opcodeStart, e);
        }
    }

    private object? Finish()
    {
        if (_marks.Count != 0 || _stack.Count != 1)
        {
            throw new InvalidPickleException($"STOP with {_stack.Count} values and {_marks.Count} open marks on the stack; expected exactly one value");
        }

        return _stack[0];
    }

    private void Execute(byte opcode)
    {
        switch (opcode)
        {
            case PickleOpcodes.Proto:
                byte protocol = ReadByte();
                if (protocol > MaxProtocol)
                {
                    throw new InvalidPickleException($"pickle protocol {protocol} is newer than the highest supported ({MaxProtocol})");
                }

                break;
            case PickleOpcodes.Frame:
                // Protocol 4 framing only groups opcodes for buffered reading; the length just has to fit.
                CheckRemaining(ReadUInt64(), "frame");
                break;
            case PickleOpcodes.Mark:
                if (_marks.Count >= MaxMarkDepth)
                {
                    throw new InvalidPickleException($"more than {MaxMarkDepth} nested marks");
                }

                _marks.Push(_stack.Count);
                break;
            case PickleOpcodes.Pop:
                Pop();
                break;
            case PickleOpcodes.PopMark:
                PopToMark();
                break;
            case PickleOpcodes.Dup:
                Push(Peek());
                break;

            case PickleOpcodes.None:
                Push(null);
                break;
            case PickleOpcodes.NewTrue:
                Push(TrueValue);
                break;
            case PickleOpcodes.NewFalse:
                Push(FalseValue);
                break;
            case PickleOpcodes.BinInt:
                Push(Integer(BinaryPrimitives.ReadInt32LittleEndian(Take(sizeof(int)))));
                break;
            case PickleOpcodes.BinInt1:
                Push(Integer(ReadByte()));
                break;
            case PickleOpcodes.BinInt2:
                Push(Integer(BinaryPrimitives.ReadUInt16LittleEndian(Take(sizeof(ushort)))));
                break;
            case PickleOpcodes.Long1:
                Push(Integer(ReadLong(ReadByte())));
                break;
            case PickleOpcodes.Long4:
                Push(Integer(ReadLong(BinaryPrimitives.ReadInt32LittleEndian(Take(sizeof(int))))));
                break;
            case PickleOpcodes.BinFloat:
                Push(BinaryPrimitives.ReadDoubleBigEndian(Take(sizeof(double))));
                break;

            case PickleOpcodes.ShortBinUnicode:
                Push(Utf8(ReadByte()));
                break;
            case PickleOpcodes.BinUnicode:
                Push(Utf8(BinaryPrimitives.ReadUInt32LittleEndian(Take(sizeof(uint)))));
                break;
            case PickleOpcodes.BinUnicode8:
                Push(Utf8(ReadUInt64()));
                break;
            case PickleOpcodes.ShortBinString:
                Push(Latin1(ReadByte()));
                break;
            case PickleOpcodes.BinString:
                Push(Latin1(BinaryPrimitives.ReadInt32LittleEndian(Take(sizeof(int)))));
                break;
            case PickleOpcodes.ShortBinBytes:
                Push(Take(CheckRemaining(ReadByte(), "bytes")).ToArray());
                break;
            case PickleOpcodes.BinBytes:
                Push(Take(CheckRemaining(BinaryPrimitives.ReadUInt32LittleEndian(Take(sizeof(uint))), "bytes")).ToArray());
                break;
            case PickleOpcodes.BinBytes8:
                Push(Take(CheckRemaining(ReadUInt64(), "bytes")).ToArray());
                break;

            case PickleOpcodes.EmptyTuple:
                Push(EmptyTuple);
                break;
            case PickleOpcodes.Tuple:
                Push(PopToMark());
                break;
            case PickleOpcodes.Tuple1:
            case PickleOpcodes.Tuple2:
            case PickleOpcodes.Tuple3:
                Push(PopTuple(opcode - PickleOpcodes.Tuple1 + 1));
                break;
            case PickleOpcodes.EmptyList:
                Push(new List<object?>());
                break;
            case PickleOpcodes.List:
                Push(new List<object?>(PopToMark()));
                break;
            case PickleOpcodes.Append:
            {
                object? item = Pop();
                PeekList().Add(item);
                break;
            }

            case PickleOpcodes.Appends:
            {
                object?[] items = PopToMark();
                PeekList().AddRange(items);
                break;
            }

            case PickleOpcodes.EmptyDict:
                Push(new PickleDict(isOrderedDict: false));
                break;
            case PickleOpcodes.Dict:
            {
                var dict = new PickleDict(isOrderedDict: false);
                AddPairs(dict, PopToMark());
                Push(dict);
                break;
            }

            case PickleOpcodes.SetItem:
            {
                object? value = Pop();
                object? key = Pop();
                PeekDict().Add(key, value);
                break;
            }

            case PickleOpcodes.SetItems:
            {
                object?[] items = PopToMark();
                AddPairs(PeekDict(), items);
                break;
            }

            case PickleOpcodes.BinPut:
                _memo.Put(ReadByte(), Peek());
                break;
            case PickleOpcodes.LongBinPut:
                _memo.Put(BinaryPrimitives.ReadUInt32LittleEndian(Take(sizeof(uint))), Peek());
                break;
            case PickleOpcodes.Memoize:
                _memo.Put((uint)_memo.Count, Peek());
                break;
            case PickleOpcodes.BinGet:
                Push(_memo.Get(ReadByte()));
                break;
            case PickleOpcodes.LongBinGet:
                Push(_memo.Get(BinaryPrimitives.ReadUInt32LittleEndian(Take(sizeof(uint)))));
                break;

            case PickleOpcodes.Global:
            {
                string module = ReadLine();
                string name = ReadLine();
                Push(TorchGlobals.Resolve(module, name));
                break;
            }

            case PickleOpcodes.StackGlobal:
            {
                object? name = Pop();
                object? module = Pop();
                if (module is not string m || name is not string n)
                {
                    throw new InvalidPickleException(
                        $"STACK_GLOBAL needs two strings, got {PickleValues.Describe(module)} and {PickleValues.Describe(name)}");
                }

                Push(TorchGlobals.Resolve(m, n));
                break;
            }

            case PickleOpcodes.Reduce:
            case PickleOpcodes.NewObj:
            {
                object? args = Pop();
                object? callable = Pop();
                if (args is not object?[] tuple)
                {
                    throw new InvalidPickleException($"arguments must be a tuple, got {PickleValues.Describe(args)}");
                }

                Push(TorchGlobals.Call(callable, tuple, isNewObj: opcode == PickleOpcodes.NewObj));
                break;
            }

            case PickleOpcodes.BinPersId:
                Push(TorchGlobals.PersistentLoad(Pop(), _storages));
                break;
            case PickleOpcodes.Build:
            {
                // Object state (e.g. a state dict's _metadata) does not affect tensors: checked and dropped.
                Pop();
                object? target = Peek();
                if (target is not (PickleDict or TorchTensor))
                {
                    throw new InvalidPickleException($"BUILD on {PickleValues.Describe(target)}: only dicts and tensors carry state here");
                }

                break;
            }

            default:
                string? known = PickleOpcodes.NameOf(opcode);
                throw new InvalidPickleException(
                    known is null ? "not a pickle opcode" : $"pickle opcode {known} is not supported in checkpoints");
        }
    }

    private static void AddPairs(PickleDict dict, object?[] items)
    {
        if (items.Length % 2 != 0)
        {
            throw new InvalidPickleException($"an odd number of values ({items.Length}) for dict items");
        }

        for (int i = 0; i < items.Length; i += 2)
        {
            dict.Add(items[i], items[i + 1]);
        }
    }

    // ---- stack ----

    private int StackFloor => _marks.Count > 0 ? _marks.Peek() : 0;

    private void Push(object? value)
    {
        if (_stack.Count >= MaxStackDepth)
        {
            throw new InvalidPickleException($"more than {MaxStackDepth} values on the stack");
        }

        _stack.Add(value);
    }

    private object? Pop()
    {
        if (_stack.Count <= StackFloor)
        {
            throw new InvalidPickleException("stack underflow");
        }

        object? value = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private object? Peek() =>
        _stack.Count > StackFloor ? _stack[^1] : throw new InvalidPickleException("stack underflow");

    private List<object?> PeekList() =>
        Peek() as List<object?> ?? throw new InvalidPickleException($"cannot append to {PickleValues.Describe(Peek())}");

    private PickleDict PeekDict() =>
        Peek() as PickleDict ?? throw new InvalidPickleException($"cannot set items on {PickleValues.Describe(Peek())}");

    private object?[] PopTuple(int count)
    {
        if (_stack.Count - StackFloor < count)
        {
            throw new InvalidPickleException("stack underflow");
        }

        return Cut(_stack.Count - count);
    }

    private object?[] PopToMark()
    {
        if (_marks.Count == 0)
        {
            throw new InvalidPickleException("no MARK to pop to");
        }

        int mark = _marks.Pop();
        int count = _stack.Count - mark;
        if (count == 0)
        {
            return EmptyTuple;
        }

        return Cut(mark);
    }

    /// <summary>Removes the values from <paramref name="start"/> to the top and returns them as a tuple.</summary>
    private object?[] Cut(int start)
    {
        object?[] items = CollectionsMarshal.AsSpan(_stack)[start..].ToArray();
        _stack.RemoveRange(start, items.Length);
        return items;
    }

    // ---- reading arguments ----

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _data.Length - _pos)
        {
            throw new InvalidPickleException($"the pickle ends inside an opcode argument ({count} bytes needed, {_data.Length - _pos} left)");
        }

        ReadOnlySpan<byte> span = _data.AsSpan(_pos, count);
        _pos += count;
        return span;
    }

    private byte ReadByte() => Take(1)[0];

    private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(sizeof(ulong)));

    /// <summary>Checks a length read from the pickle against the bytes left; returns it as an int.</summary>
    private int CheckRemaining(long length, string what) =>
        length >= 0 ? CheckRemaining((ulong)length, what) : throw TooLong(length.ToString(CultureInfo.InvariantCulture), what);

    private int CheckRemaining(ulong length, string what) =>
        length <= (ulong)(_data.Length - _pos) ? (int)length : throw TooLong(length.ToString(CultureInfo.InvariantCulture), what);

    private InvalidPickleException TooLong(string length, string what) =>
        new($"{what} length {length} exceeds the {_data.Length - _pos} bytes left in the pickle");

    private string Utf8(ulong length) => Encoding.UTF8.GetString(Take(CheckRemaining(length, "string")));

    private string Latin1(long length) => Encoding.Latin1.GetString(Take(CheckRemaining(length, "string")));

    /// <summary>A GLOBAL argument: text up to a newline, within the bytes left.</summary>
    private string ReadLine()
    {
        int end = _data.AsSpan(_pos).IndexOf((byte)'\n');
        if (end < 0)
        {
            throw new InvalidPickleException("the pickle ends inside a GLOBAL name");
        }

        string line = Encoding.UTF8.GetString(_data.AsSpan(_pos, end));
        _pos += end + 1;
        return line;
    }

    /// <summary>A LONG1/LONG4 integer: little-endian two's complement of the given byte count, up to 64 bits.</summary>
    private long ReadLong(int byteCount)
    {
        CheckRemaining(byteCount, "integer");
        if (byteCount > sizeof(long))
        {
            throw new InvalidPickleException($"an integer of {byteCount} bytes does not fit in 64 bits");
        }

        ReadOnlySpan<byte> bytes = Take(byteCount);
        if (bytes.IsEmpty)
        {
            return 0;
        }

        Span<byte> wide = stackalloc byte[sizeof(long)];
        wide.Fill((bytes[^1] & 0x80) != 0 ? (byte)0xFF : (byte)0);
        bytes.CopyTo(wide);
        return BinaryPrimitives.ReadInt64LittleEndian(wide);
    }

    private static object Integer(long value) =>
        value >= 0 && value < SmallIntegerCacheSize ? SmallIntegers[value] : value;

    private static object[] CreateSmallIntegers()
    {
        // Boxed ints are most of a state-dict pickle's values; sharing the small ones keeps allocation low.
        object[] cache = new object[SmallIntegerCacheSize];
        for (int i = 0; i < cache.Length; i++)
        {
            cache[i] = (long)i;
        }

        return cache;
    }
}
