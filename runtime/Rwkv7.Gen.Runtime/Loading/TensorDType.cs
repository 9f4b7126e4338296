namespace Rwkv7.Gen.Loading;

/// <summary>Element types a checkpoint tensor can be stored in.</summary>
public enum TensorDType
{
    /// <summary>IEEE float32.</summary>
    F32,

    /// <summary>IEEE float16 (half).</summary>
    F16,

    /// <summary>bfloat16: the upper 16 bits of a float32 (the precision of official checkpoints).</summary>
    BF16,

    /// <summary>
    /// 8-bit weights: int8 values in blocks of <see cref="Q8Block.Size"/> along each row, each block with one fp32 scale
    /// (value = scale × int8), stored after the row's values (<see cref="Q8Block.RowBytes"/>). A packed compute format
    /// made at load time, never found in checkpoint files.
    /// </summary>
    Q8,

    /// <summary>
    /// 4-bit weights: values −8…7 in blocks of <see cref="Q4Block.Size"/> along each row, two to a byte, each block with
    /// one fp32 scale (value = scale × q), stored after the row's values (<see cref="Q4Block.RowBytes"/>). A packed
    /// compute format made at load time, never found in checkpoint files.
    /// </summary>
    Q4,
}

/// <summary>The block layout of <see cref="TensorDType.Q8"/> matrices.</summary>
public static class Q8Block
{
    /// <summary>Consecutive values of a row sharing one scale (the block the generated 8-bit kernels are written for).</summary>
    public const int Size = ModelMath.Q8BlockSize;

    /// <summary>Largest magnitude of a quantized value (the range is symmetric, −127…127).</summary>
    public const int MaxQuant = 127;

    /// <summary>
    /// Bytes of one packed row of <paramref name="cols"/> values (a multiple of <see cref="Size"/>): the int8 values,
    /// then one fp32 scale per block.
    /// </summary>
    public static int RowBytes(int cols) => cols + (cols / Size * sizeof(float));
}

/// <summary>
/// The block layout of <see cref="TensorDType.Q4"/> matrices. A row's blocks go in groups of <see cref="GroupBlocks"/>
/// (<see cref="GroupBytes"/> bytes of values each), then any blocks after the last whole group one by one. A block's 16
/// bytes hold value i in the low nibble of byte i and value i + 16 in its high nibble (as GGML's Q4_0 does); a lone
/// block stores its bytes in that order, and a group stores its eight blocks' bytes four at a time, chunk-major: byte
/// 32c + 4j + i of a group is byte 4c + i of its block j (c, i = 0…3). So each 32 bytes of a group are one chunk of
/// every block, and a kernel summing them into int32 lanes gets one lane per block (docs/benchmarks.md, change 62).
/// </summary>
public static class Q4Block
{
    /// <summary>Consecutive values of a row sharing one scale.</summary>
    public const int Size = 32;

    /// <summary>Bytes holding one block's values: value i of the block in the low nibble of byte i, value i + 16 in its high nibble.</summary>
    public const int PackedBytes = Size / 2;

    /// <summary>Blocks whose bytes are stored interleaved, four bytes of each in turn (the type's summary says how).</summary>
    public const int GroupBlocks = 8;

    /// <summary>Bytes of values of one group of <see cref="GroupBlocks"/> blocks.</summary>
    public const int GroupBytes = GroupBlocks * PackedBytes;

    /// <summary>What a nibble stores: q + 8, so that −8…7 is 0…15.</summary>
    public const int Offset = 8;

    /// <summary>
    /// Bytes of one packed row of <paramref name="cols"/> values (a multiple of <see cref="Size"/>): the values, two to
    /// a byte in groups (the type's summary says how), then one fp32 scale per block.
    /// </summary>
    public static int RowBytes(int cols) => (cols / 2) + (cols / Size * sizeof(float));

    /// <summary>
    /// Where byte <paramref name="i"/> (0…15) of block <paramref name="block"/> lies among the value bytes of a row of
    /// <paramref name="blocks"/> blocks.
    /// </summary>
    public static int ByteOffset(int block, int i, int blocks)
    {
        int grouped = blocks / GroupBlocks * GroupBlocks;
        return block < grouped
            ? (block / GroupBlocks * GroupBytes) + (i / 4 * 32) + (block % GroupBlocks * 4) + (i % 4)
            : (block * PackedBytes) + i;
    }

    /// <summary>
    /// Puts a row's value bytes given block by block (each block's 16 bytes in turn, as Q4_0 stores them) into the
    /// grouped order, in place.
    /// </summary>
    public static void Group(Span<byte> values) => Regroup(values, values, toGroups: true, nameof(values));

    /// <summary>Puts a row's value bytes in the grouped order back into block-by-block order, in place (<see cref="Group"/>'s inverse).</summary>
    public static void Ungroup(Span<byte> values) => Regroup(values, values, toGroups: false, nameof(values));

    /// <summary>
    /// <see cref="Ungroup(Span{byte})"/> from <paramref name="grouped"/> into <paramref name="plain"/> (at least as long), for
    /// readers that want the block-by-block order without changing the row.
    /// </summary>
    internal static void Ungroup(ReadOnlySpan<byte> grouped, Span<byte> plain) => Regroup(grouped, plain, toGroups: false, nameof(grouped));

    /// <summary>Regroups <paramref name="source"/> into <paramref name="destination"/>, which may be the same bytes; <paramref name="name"/> names the caller's argument in errors.</summary>
    private static void Regroup(ReadOnlySpan<byte> source, Span<byte> destination, bool toGroups, string name)
    {
        if (source.Length % PackedBytes != 0 || destination.Length < source.Length)
        {
            throw new ArgumentException(
                $"4-bit rows hold whole blocks of {PackedBytes} bytes; got {source.Length} bytes (into {destination.Length}).", name);
        }

        Span<int> chunks = stackalloc int[GroupBytes / sizeof(int)];
        int g = 0;
        for (; g + GroupBytes <= source.Length; g += GroupBytes)
        {
            // Through a copy: the source may be the destination.
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(source.Slice(g, GroupBytes)).CopyTo(chunks);
            Span<int> group = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(destination.Slice(g, GroupBytes));
            for (int j = 0; j < GroupBlocks; j++)
            {
                for (int c = 0; c < 4; c++)
                {
                    // Chunk c of block j: at 4j + c block by block, at 8c + j in a group.
                    if (toGroups)
                    {
                        group[(8 * c) + j] = chunks[(4 * j) + c];
                    }
                    else
                    {
                        group[(4 * j) + c] = chunks[(8 * c) + j];
                    }
                }
            }
        }

        // Blocks after the last whole group keep their order (a no-op in place).
        source[g..].CopyTo(destination[g..]);
    }
}

/// <summary>Helpers for <see cref="TensorDType"/>.</summary>
public static class TensorDTypeExtensions
{
    /// <summary>Bytes per element.</summary>
    public static int SizeInBytes(this TensorDType type) => type switch
    {
        TensorDType.F32 => 4,
        TensorDType.F16 => 2,
        TensorDType.BF16 => 2,
        TensorDType.Q8 or TensorDType.Q4 => throw new ArgumentException($"{type} matrices hold packed values plus block scales; use WeightMatrix.ByteLength.", nameof(type)),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown tensor element type."),
    };

    /// <summary>Short lowercase name used in messages and the CLI: <c>fp32</c>, <c>fp16</c>, <c>bf16</c>, <c>q8</c>, <c>q4</c>.</summary>
    public static string DisplayName(this TensorDType type) => type switch
    {
        TensorDType.F32 => "fp32",
        TensorDType.F16 => "fp16",
        TensorDType.BF16 => "bf16",
        TensorDType.Q8 => "q8",
        TensorDType.Q4 => "q4",
        _ => type.ToString(),
    };
}
