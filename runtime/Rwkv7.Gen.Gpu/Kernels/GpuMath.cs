using System.Runtime.CompilerServices;
using ILGPU;

namespace Rwkv7.Gen.Gpu.Kernels;

/// <summary>
/// Math for device code, built from operations every ILGPU backend has natively (add, multiply, divide, square root,
/// float/int conversions and bit casts): no CUDA libdevice is needed, and the CPU accelerator and a GPU compute the
/// same formulas. Accuracy: <see cref="Exp"/> is within a few ulp of <see cref="MathF.Exp"/> (range reduction by ln 2
/// split in two parts, then a degree-7 Taylor polynomial whose truncation error is below 6e-9 relative).
/// </summary>
public static class GpuMath
{
    /// <summary>e^(-1/2): the decay is exp(-e^(-1/2)·sigmoid(·)) (the value the reference engine and generated kernels use).</summary>
    public const float DecayScale = ModelMath.DecayScale;

    /// <summary>LayerNorm epsilon (ln0, ln1, ln2, ln_out).</summary>
    public const float LayerNormEps = ModelMath.LayerNormEps;

    /// <summary>GroupNorm (ln_x) epsilon: 1e-5 × head size.</summary>
    public const float GroupNormEps = ModelMath.GroupNormEps;

    /// <summary>Floor of the norm when L2-normalizing kk.</summary>
    public const float NormFloor = ModelMath.NormFloor;

    private const float Log2E = 1.44269504088896341f;

    // ln 2 = Ln2Hi + Ln2Lo, with Ln2Hi exact in 16 bits so that n·Ln2Hi is exact for |n| < 256.
    private const float Ln2Hi = 0.693145751953125f;
    private const float Ln2Lo = 1.42860682030941723e-6f;

    // exp(x) overflows above ~88.72 and leaves the normal range below ~-87.34; clamp so that 2^n stays normal.
    private const float ExpMin = -87.0f;
    private const float ExpMax = 88.0f;

    /// <summary>e^x for device code (x is clamped to [-87, 88]: the result stays a normal float).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Exp(float x)
    {
        x = x < ExpMin ? ExpMin : (x > ExpMax ? ExpMax : x);
        float y = x * Log2E;
        int n = (int)(y >= 0 ? y + 0.5f : y - 0.5f); // round to nearest
        float fn = n;
        float r = (x - (fn * Ln2Hi)) - (fn * Ln2Lo); // |r| <= ln2/2
        float p = 1f / 5040f;
        p = (p * r) + (1f / 720f);
        p = (p * r) + (1f / 120f);
        p = (p * r) + (1f / 24f);
        p = (p * r) + (1f / 6f);
        p = (p * r) + 0.5f;
        p = (p * r) + 1f;
        p = (p * r) + 1f;
        return p * Interop.IntAsFloat((uint)(n + 127) << 23);
    }

    /// <summary>1 / (1 + e^-x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sigmoid(float x) => 1f / (1f + Exp(-x));

    /// <summary>tanh(x) = sign(x)·(1 − e^(−2|x|)) / (1 + e^(−2|x|)); absolute error below 1e-7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Tanh(float x)
    {
        float ax = x < 0 ? -x : x;
        float e = Exp(-2f * ax);
        float t = (1f - e) / (1f + e);
        return x < 0 ? -t : t;
    }

    /// <summary>1 / sqrt(x), correctly rounded square root then a division (no approximate rsqrt).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float InvSqrt(float x) => 1f / MathF.Sqrt(x);

    /// <summary>The larger of two floats (no NaN handling: kernels never produce NaN from finite weights).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Max(float a, float b) => a > b ? a : b;

    /// <summary>The low bf16 of a packed pair (element 2q), widened exactly: the pattern moves to the upper half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Bf16Low(uint pair) => Interop.IntAsFloat(pair << 16);

    /// <summary>The high bf16 of a packed pair (element 2q+1), widened exactly by clearing the lower half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Bf16High(uint pair) => Interop.IntAsFloat(pair & 0xFFFF0000u);
}
