using System.Buffers.Binary;
using System.Text;

namespace Rwkv7.Gen.Loading.Gguf;

/// <summary>GGUF metadata value types, as numbered in the file.</summary>
internal enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>One metadata value: a scalar (integer, float, bool or string) or an array.</summary>
/// <param name="Type">The value's type.</param>
/// <param name="Offset">File offset of the key/value pair, for error messages.</param>
/// <param name="Integer">Integer value (scalars of the integer types and bool).</param>
/// <param name="Real">Floating-point value (float32, float64).</param>
/// <param name="Text">String value.</param>
/// <param name="Array">Array value.</param>
internal sealed record GgufValue(GgufValueType Type, long Offset, long Integer = 0, double Real = 0, string? Text = null, GgufArray? Array = null)
{
    /// <summary>Whether the value is one of the integer types.</summary>
    public bool IsInteger => Type is GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.UInt16 or GgufValueType.Int16
        or GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.UInt64 or GgufValueType.Int64;

    /// <summary>The type as GGUF tools print it, e.g. <c>UINT32</c> or <c>ARRAY[STRING]</c>.</summary>
    public string TypeName => Type == GgufValueType.Array ? $"ARRAY[{GgufMetadata.TypeName(Array!.ElementType)}]" : GgufMetadata.TypeName(Type);
}

/// <summary>
/// An array value. Numbers are kept as the file's raw little-endian bytes, strings as their bytes back to back with
/// offsets, so that memory stays proportional to the file (a 65,536-token vocabulary is one buffer, not 65,536 objects).
/// Nested arrays are checked and skipped: nothing this project reads uses them.
/// </summary>
internal sealed class GgufArray(GgufValueType elementType, int count, byte[] data, int[]? stringOffsets)
{
    /// <summary>Element type.</summary>
    public GgufValueType ElementType { get; } = elementType;

    /// <summary>Number of elements.</summary>
    public int Count { get; } = count;

    /// <summary>Raw element bytes (numbers), or every string's bytes back to back.</summary>
    internal byte[] Data { get; } = data;

    /// <summary>String i is <c>Data[offsets[i]..offsets[i + 1]]</c>; null for other element types.</summary>
    internal int[]? StringOffsets { get; } = stringOffsets;

    /// <summary>The bytes of string element <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> StringBytes(int index) =>
        Data.AsSpan(StringOffsets![index], StringOffsets[index + 1] - StringOffsets[index]);

    /// <summary>Integer element <paramref name="index"/> of an integer array.</summary>
    public long IntegerAt(int index)
    {
        int size = GgufMetadata.ScalarSize(ElementType);
        return GgufMetadata.DecodeInteger(ElementType, Data.AsSpan(index * size, size));
    }
}

/// <summary>
/// A GGUF file's key/value metadata, looked up by key with typed accessors whose errors name the key, what it holds and
/// what was expected.
/// </summary>
internal sealed class GgufMetadata
{
    /// <summary>Longest key accepted (the GGUF specification's limit).</summary>
    public const int MaxKeyBytes = 65535;

    /// <summary>Deepest nesting of arrays accepted.</summary>
    public const int MaxArrayDepth = 4;

    private readonly Dictionary<string, GgufValue> _values;
    private readonly string _path;

    public GgufMetadata(string path, Dictionary<string, GgufValue> values, IReadOnlyList<string> keys)
    {
        _path = path;
        _values = values;
        Keys = keys;
    }

    /// <summary>Keys in file order.</summary>
    public IReadOnlyList<string> Keys { get; }

    public GgufValue? Find(string key) => _values.GetValueOrDefault(key);

    /// <summary>A string value, or null when the key is absent.</summary>
    public string? String(string key) => Find(key) switch
    {
        null => null,
        { Type: GgufValueType.String } v => v.Text,
        GgufValue v => throw WrongType(key, v, "a string"),
    };

    /// <summary>A non-negative integer value, or null when the key is absent.</summary>
    public long? Count(string key) => Find(key) switch
    {
        null => null,
        { IsInteger: true, Integer: >= 0 } v => v.Integer,
        GgufValue v => throw WrongType(key, v, "a non-negative integer"),
    };

    /// <summary>An array whose elements have <paramref name="elementType"/> (any integer type when it is null), or null when absent.</summary>
    public GgufArray? Array(string key, GgufValueType? elementType)
    {
        GgufValue? v = Find(key);
        if (v is null)
        {
            return null;
        }

        if (v.Array is not { } array
            || (elementType is { } wanted ? array.ElementType != wanted : array.ElementType is GgufValueType.String or GgufValueType.Array
                or GgufValueType.Float32 or GgufValueType.Float64))
        {
            throw WrongType(key, v, elementType is { } t ? $"an array of {TypeName(t)}" : "an array of integers");
        }

        return array;
    }

    public RwkvFormatException WrongType(string key, GgufValue value, string expected) =>
        new(_path, $"metadata key '{key}' holds {Describe(value)}; expected {expected}", value.Offset);

    private static string Describe(GgufValue v) => v.Type switch
    {
        GgufValueType.String => $"the string \"{Shorten(v.Text!)}\"",
        GgufValueType.Array => $"an {v.TypeName} of {v.Array!.Count} elements",
        GgufValueType.Float32 or GgufValueType.Float64 => $"the {v.TypeName} {v.Real.ToString(System.Globalization.CultureInfo.InvariantCulture)}",
        _ => $"the {v.TypeName} {v.Integer.ToString(System.Globalization.CultureInfo.InvariantCulture)}",
    };

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";

    /// <summary>Bytes of a scalar of <paramref name="type"/>, or 0 for strings and arrays.</summary>
    public static int ScalarSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>An integer (or bool) scalar of <paramref name="type"/> from its little-endian bytes.</summary>
    public static long DecodeInteger(GgufValueType type, ReadOnlySpan<byte> bytes) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Bool => bytes[0],
        GgufValueType.Int8 => (sbyte)bytes[0],
        GgufValueType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(bytes),
        GgufValueType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(bytes),
        GgufValueType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(bytes),
        GgufValueType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(bytes),
        GgufValueType.UInt64 => (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(bytes), long.MaxValue),
        GgufValueType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(bytes),
        _ => throw new InvalidOperationException($"{TypeName(type)} is not an integer type."),
    };

    /// <summary>The upper-case name GGUF tools print for a type.</summary>
    public static string TypeName(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => "UINT8",
        GgufValueType.Int8 => "INT8",
        GgufValueType.UInt16 => "UINT16",
        GgufValueType.Int16 => "INT16",
        GgufValueType.UInt32 => "UINT32",
        GgufValueType.Int32 => "INT32",
        GgufValueType.Float32 => "FLOAT32",
        GgufValueType.Bool => "BOOL",
        GgufValueType.String => "STRING",
        GgufValueType.Array => "ARRAY",
        GgufValueType.UInt64 => "UINT64",
        GgufValueType.Int64 => "INT64",
        GgufValueType.Float64 => "FLOAT64",
        _ => $"type {(uint)type}",
    };

    /// <summary>Reads one value of <paramref name="type"/> for <paramref name="key"/> (the key/value pair began at <paramref name="offset"/>).</summary>
    public static GgufValue ReadValue(GgufHeaderReader reader, string key, GgufValueType type, long offset)
    {
        string what = $"the value of metadata key '{key}'";
        switch (type)
        {
            case GgufValueType.String:
                return new GgufValue(type, offset, Text: reader.ReadString(what));
            case GgufValueType.Array:
                return new GgufValue(type, offset, Array: ReadArray(reader, key, depth: 1));
            case GgufValueType.Float32:
                return new GgufValue(type, offset, Real: BinaryPrimitives.ReadSingleLittleEndian(reader.ReadScalar(sizeof(float), what)));
            case GgufValueType.Float64:
                return new GgufValue(type, offset, Real: BinaryPrimitives.ReadDoubleLittleEndian(reader.ReadScalar(sizeof(double), what)));
            default:
                int size = ScalarSize(type);
                if (size == 0)
                {
                    throw reader.Error($"metadata key '{key}' has value type {(uint)type}, which GGUF does not define (0 to 12)", offset);
                }

                return new GgufValue(type, offset, Integer: DecodeInteger(type, reader.ReadScalar(size, what)));
        }
    }

    /// <summary>Reads an array (element type, count, elements), checking the count against the bytes left before allocating.</summary>
    private static GgufArray ReadArray(GgufHeaderReader reader, string key, int depth)
    {
        long at = reader.Position;
        string what = $"the array of metadata key '{key}'";
        uint elementCode = reader.ReadUInt32($"the element type of {what}");
        var elementType = (GgufValueType)elementCode;
        ulong count = reader.ReadUInt64($"the element count of {what}");
        int size = ScalarSize(elementType);
        long minimum = elementType switch
        {
            GgufValueType.String => sizeof(ulong),
            GgufValueType.Array => sizeof(uint) + sizeof(ulong),
            _ when size > 0 => size,
            _ => throw reader.Error($"{what} has element type {elementCode}, which GGUF does not define (0 to 12)", at),
        };
        if (count > (ulong)(reader.Remaining / minimum))
        {
            throw reader.Error($"{what} claims {count} elements of {TypeName(elementType)} but only {reader.Remaining} bytes are left in the file", at);
        }

        int n = checked((int)count);
        if (elementType == GgufValueType.Array)
        {
            if (depth >= MaxArrayDepth)
            {
                throw reader.Error($"{what} nests arrays more than {MaxArrayDepth} deep", at);
            }

            for (int i = 0; i < n; i++)
            {
                ReadArray(reader, key, depth + 1);
            }

            return new GgufArray(elementType, n, [], null);
        }

        if (elementType != GgufValueType.String)
        {
            byte[] data = new byte[n * size];
            reader.ReadInto(data, what);
            return new GgufArray(elementType, n, data, null);
        }

        // Strings: lengths are checked one by one against the bytes left, so the buffer never outgrows the file.
        int[] offsets = new int[n + 1];
        byte[] bytes = new byte[Math.Min(reader.Remaining - (n * minimum), 1 << 16)];
        int used = 0;
        for (int i = 0; i < n; i++)
        {
            int length = reader.ReadStringLength($"string {i} of {what}");
            if (used + length > bytes.Length)
            {
                System.Array.Resize(ref bytes, (int)Math.Min(Math.Max((long)bytes.Length * 2, (long)used + length), System.Array.MaxLength));
            }

            reader.ReadInto(bytes.AsSpan(used, length), $"string {i} of {what}");
            used += length;
            offsets[i + 1] = used;
        }

        return new GgufArray(elementType, n, bytes, offsets);
    }

    /// <summary>Decodes UTF-8 bytes for display, replacing invalid sequences.</summary>
    public static string Display(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}
