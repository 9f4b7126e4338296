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
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown tensor element type."),
    };

    /// <summary>Short lowercase name used in messages and the CLI: <c>fp32</c>, <c>fp16</c>, <c>bf16</c>.</summary>
    public static string DisplayName(this TensorDType type) => type switch
    {
        TensorDType.F32 => "fp32",
        TensorDType.F16 => "fp16",
        TensorDType.BF16 => "bf16",
        _ => type.ToString(),
    };
}
