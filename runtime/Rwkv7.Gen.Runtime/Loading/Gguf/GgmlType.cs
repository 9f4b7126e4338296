namespace Rwkv7.Gen.Loading.Gguf;

/// <summary>
/// Tensor element types as GGUF files number them (ggml's <c>ggml_type</c>). Only some can be read (see
/// <see cref="GgmlTypes.TryGetLayout"/>); the others are listed so that an error can name them.
/// </summary>
public enum GgmlType : uint
{
    /// <summary>IEEE float32.</summary>
    F32 = 0,

    /// <summary>IEEE float16.</summary>
    F16 = 1,

    /// <summary>Blocks of 32: an fp16 scale d, then 16 bytes of 4-bit q (value = d × (q − 8)).</summary>
    Q4_0 = 2,

    /// <summary>Blocks of 32: fp16 scale d and minimum m, then 16 bytes of 4-bit q (value = d × q + m).</summary>
    Q4_1 = 3,

    /// <summary>Blocks of 32: fp16 d, 32 high bits, 16 bytes of low nibbles (value = d × (q − 16), q of 5 bits).</summary>
    Q5_0 = 6,

    /// <summary>Blocks of 32: fp16 d and m, 32 high bits, 16 bytes of low nibbles (value = d × q + m, q of 5 bits).</summary>
    Q5_1 = 7,

    /// <summary>Blocks of 32: an fp16 scale d, then 32 int8 q (value = d × q).</summary>
    Q8_0 = 8,

    /// <summary>Blocks of 32 with a scale and a sum (an activation format of ggml's kernels).</summary>
    Q8_1 = 9,

    /// <summary>2-bit k-quant (super-blocks of 256).</summary>
    Q2_K = 10,

    /// <summary>3-bit k-quant (super-blocks of 256).</summary>
    Q3_K = 11,

    /// <summary>4-bit k-quant: super-blocks of 256, eight sub-blocks of 32 with 6-bit scales and minimums.</summary>
    Q4_K = 12,

    /// <summary>5-bit k-quant: as <see cref="Q4_K"/> with one more bit per value.</summary>
    Q5_K = 13,

    /// <summary>6-bit k-quant: super-blocks of 256, sixteen sub-blocks of 16 with int8 scales.</summary>
    Q6_K = 14,

    /// <summary>8-bit k-quant (an activation format of ggml's kernels).</summary>
    Q8_K = 15,

    /// <summary>Importance-matrix 2-bit type.</summary>
    IQ2_XXS = 16,

    /// <summary>Importance-matrix 2-bit type.</summary>
    IQ2_XS = 17,

    /// <summary>Importance-matrix 3-bit type.</summary>
    IQ3_XXS = 18,

    /// <summary>Importance-matrix 1-bit type.</summary>
    IQ1_S = 19,

    /// <summary>Non-linear 4-bit type.</summary>
    IQ4_NL = 20,

    /// <summary>Importance-matrix 3-bit type.</summary>
    IQ3_S = 21,

    /// <summary>Importance-matrix 2-bit type.</summary>
    IQ2_S = 22,

    /// <summary>Non-linear 4-bit type with super-blocks.</summary>
    IQ4_XS = 23,

    /// <summary>int8.</summary>
    I8 = 24,

    /// <summary>int16.</summary>
    I16 = 25,

    /// <summary>int32.</summary>
    I32 = 26,

    /// <summary>int64.</summary>
    I64 = 27,

    /// <summary>IEEE float64.</summary>
    F64 = 28,

    /// <summary>Importance-matrix 1-bit type.</summary>
    IQ1_M = 29,

    /// <summary>bfloat16: the upper 16 bits of a float32.</summary>
    BF16 = 30,

    /// <summary>Ternary type.</summary>
    TQ1_0 = 34,

    /// <summary>Ternary type.</summary>
    TQ2_0 = 35,

    /// <summary>Microscaling 4-bit float type.</summary>
    MXFP4 = 39,
}

/// <summary>The storage layout of the <see cref="GgmlType"/>s this project reads.</summary>
public static class GgmlTypes
{
    /// <summary>Values in one block of the 32-value types.</summary>
    public const int SmallBlock = 32;

    /// <summary>Values in one super-block of the k-quants.</summary>
    public const int SuperBlock = 256;

    /// <summary>
    /// The block layout of a type this project reads: <paramref name="blockValues"/> consecutive values of a row take
    /// <paramref name="blockBytes"/> bytes (plain types: one value per block). False for every other type.
    /// </summary>
    public static bool TryGetLayout(GgmlType type, out int blockValues, out int blockBytes)
    {
        (blockValues, blockBytes) = type switch
        {
            GgmlType.F32 => (1, 4),
            GgmlType.F16 or GgmlType.BF16 => (1, 2),
            GgmlType.Q4_0 => (SmallBlock, 18),
            GgmlType.Q4_1 => (SmallBlock, 20),
            GgmlType.Q5_0 => (SmallBlock, 22),
            GgmlType.Q5_1 => (SmallBlock, 24),
            GgmlType.Q8_0 => (SmallBlock, 34),
            GgmlType.Q4_K => (SuperBlock, 144),
            GgmlType.Q5_K => (SuperBlock, 176),
            GgmlType.Q6_K => (SuperBlock, 210),
            _ => (0, 0),
        };
        return blockValues > 0;
    }

    /// <summary>Whether <paramref name="type"/> stores values in blocks with scales (not plain F32, F16 or BF16).</summary>
    public static bool IsBlockQuantized(GgmlType type) => type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16);

    /// <summary>
    /// The packed type this engine runs that is nearest a block type: 8-bit for the 5-, 6- and 8-bit types, 4-bit for
    /// the 4-bit ones. Null for plain types.
    /// </summary>
    public static TensorDType? NearestPacked(GgmlType type) => type switch
    {
        GgmlType.Q8_0 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q5_K or GgmlType.Q6_K => TensorDType.Q8,
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q4_K => TensorDType.Q4,
        _ => null,
    };

    /// <summary>
    /// Whether a row of <paramref name="type"/> converts to this engine's <paramref name="packed"/> row format without
    /// changing any value: both use blocks of 32 with one scale, the value = scale × integer, and the integers fit
    /// (Q8_0 → 8-bit; Q4_0 → 4-bit or 8-bit; Q5_0 → 8-bit). Types with a minimum, and the k-quants (several scales per
    /// block of 32, or minimums), do not.
    /// </summary>
    public static bool PacksExactly(GgmlType type, TensorDType packed) => (type, packed) switch
    {
        (GgmlType.Q8_0, TensorDType.Q8) => true,
        (GgmlType.Q4_0, TensorDType.Q4 or TensorDType.Q8) => true,
        (GgmlType.Q5_0, TensorDType.Q8) => true,
        _ => false,
    };

    /// <summary>The name llama.cpp prints for a type, e.g. <c>Q4_K</c>; the number for types it has retired.</summary>
    public static string Name(GgmlType type) =>
        Enum.IsDefined(type) ? type.ToString() : $"type {(uint)type}";
}
