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

/// <summary>The block layout of <see cref="TensorDType.Q4"/> matrices.</summary>
public static class Q4Block
{
    /// <summary>Consecutive values of a row sharing one scale.</summary>
    public const int Size = 32;

    /// <summary>Bytes holding one block's values: value i of the block in the low nibble of byte i, value i + 16 in its high nibble.</summary>
    public const int PackedBytes = Size / 2;

    /// <summary>What a nibble stores: q + 8, so that −8…7 is 0…15.</summary>
    public const int Offset = 8;

    /// <summary>
    /// Bytes of one packed row of <paramref name="cols"/> values (a multiple of <see cref="Size"/>): the values, two to
    /// a byte, then one fp32 scale per block.
    /// </summary>
    public static int RowBytes(int cols) => (cols / 2) + (cols / Size * sizeof(float));
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
