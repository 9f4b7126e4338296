using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// The inputs of one-token products with 8-bit matrices, rounded to 16-bit integers in blocks of
/// <see cref="Q8Block.Size"/> (the weights' own blocks): each block stores scale = max|x| / 32767 and
/// q = round(x / scale), so every input is within scale / 2 (2⁻¹⁶ of its block's largest magnitude) of its value.
/// A product then sums int8 × int16 pairs exactly in integers and applies the weight and input scales once per block
/// (<c>vpmaddwd</c>): fewer instructions per weight than widening every int8 weight to fp32, which is what limits
/// 8-bit decode. Multi-token products (prefill, batches) keep fp32 inputs.
/// </summary>
internal static class Int16Activations
{
    /// <summary>The largest quantized magnitude: a block's largest input maps to ±32767.</summary>
    public const int MaxQuant = short.MaxValue;

    /// <summary>
    /// Rounds <paramref name="x"/> (a whole number of blocks) to <paramref name="quants"/> and one scale per block in
    /// <paramref name="scales"/>. A block of zeros gets scale 0; a NaN or infinity gives a NaN or infinite scale, so
    /// the product comes out non-finite as the fp32 product would.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Quantize(ReadOnlySpan<float> x, Span<short> quants, Span<float> scales)
    {
        const int block = Q8Block.Size;
        if (x.Length % block != 0 || quants.Length < x.Length || scales.Length < x.Length / block)
        {
            throw new ArgumentException(
                $"16-bit inputs are whole blocks of {block}: got {x.Length} inputs, room for {quants.Length} values and {scales.Length} scales.");
        }

        ref float xr = ref MemoryMarshal.GetReference(x);
        ref short qr = ref MemoryMarshal.GetReference(quants);
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            Quantize512(ref xr, ref qr, scales, x.Length / block);
            return;
        }

        if (Avx2.IsSupported)
        {
            Quantize256(ref xr, ref qr, scales, x.Length / block);
            return;
        }

        for (int b = 0; b < x.Length / block; b++)
        {
            ref float xb = ref Unsafe.Add(ref xr, b * block);
            ref short qb = ref Unsafe.Add(ref qr, b * block);
            float max = BlockMax(ref xb);
            float inverse = max > 0 && float.IsFinite(max) ? MaxQuant / max : 0;
            scales[b] = max / MaxQuant;

            // Round to nearest, ties to even (MathF.Round), then clamp: |x · inverse| ≤ 32767 + rounding.
            for (int i = 0; i < block; i++)
            {
                Unsafe.Add(ref qb, i) = (short)Math.Clamp((int)MathF.Round(Unsafe.Add(ref xb, i) * inverse), -MaxQuant, MaxQuant);
            }
        }
    }

    /// <summary>
    /// <see cref="Quantize"/> with 512-bit vectors, a block in two: <c>vcvtps2dq</c> rounds half to even as
    /// <c>Vector256.Round</c> does, and <c>vpmovsdw</c> narrows with saturation where the 256-bit path clamps (no
    /// finite input reaches ±32767.5, so the values are the same; a non-finite block's values differ, and its scale is
    /// non-finite either way). 2.2× faster on Zen 5 (115 against 253 ns for 768 inputs); the rounding of a step's inputs
    /// runs on one thread before its parts, but at about 1.5% of 4-bit decode the gain there is below what a run
    /// resolves (docs/benchmarks.md, change 50).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quantize512(ref float x, ref short quants, Span<float> scales, int blocks)
    {
        for (int b = 0; b < blocks; b++)
        {
            Vector512<float> low = Vector512.LoadUnsafe(ref x, (nuint)(b * Q8Block.Size));
            Vector512<float> high = Vector512.LoadUnsafe(ref x, (nuint)((b * Q8Block.Size) + 16));
            Vector512<float> both = Vector512.Max(Vector512.Abs(low), Vector512.Abs(high));
            float max = LaneMax(Vector256.Max(both.GetLower(), both.GetUpper()));
            float inverse = max > 0 && float.IsFinite(max) ? MaxQuant / max : 0;
            scales[b] = max / MaxQuant;
            Avx512F.ConvertToVector256Int16WithSaturation(Avx512F.ConvertToVector512Int32(low * inverse)).StoreUnsafe(ref quants, (nuint)(b * Q8Block.Size));
            Avx512F.ConvertToVector256Int16WithSaturation(Avx512F.ConvertToVector512Int32(high * inverse)).StoreUnsafe(ref quants, (nuint)((b * Q8Block.Size) + 16));
        }
    }

    /// <summary>
    /// <see cref="Quantize"/> with AVX2, the values of the general path for finite inputs: <c>vcvtps2dq</c> rounds half
    /// to even as <c>Vector256.Round</c> does (<c>Vector256.ConvertToInt32</c> adds a saturation fix-up of several
    /// instructions), <c>vpackssdw</c> narrows, and the block's largest magnitude is the largest of its magnitudes'
    /// bit patterns (<see cref="BlockMaxBits"/>). 0.53 → about 0.2 ns an input on Zen 5 (change 60).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quantize256(ref float x, ref short quants, Span<float> scales, int blocks)
    {
        Vector256<int> low = Vector256.Create(-MaxQuant), high = Vector256.Create(MaxQuant);
        for (int b = 0; b < blocks; b++)
        {
            ref float xb = ref Unsafe.Add(ref x, b * Q8Block.Size);
            Vector256<float> x0 = Vector256.LoadUnsafe(ref xb), x1 = Vector256.LoadUnsafe(ref xb, 8);
            Vector256<float> x2 = Vector256.LoadUnsafe(ref xb, 16), x3 = Vector256.LoadUnsafe(ref xb, 24);
            float max = BlockMaxBits(x0, x1, x2, x3);
            float inverse = max > 0 && float.IsFinite(max) ? MaxQuant / max : 0;
            scales[b] = max / MaxQuant;
            ref short qb = ref Unsafe.Add(ref quants, b * Q8Block.Size);
            Vector256<int> q0 = Vector256.Clamp(Avx.ConvertToVector256Int32(x0 * inverse), low, high);
            Vector256<int> q1 = Vector256.Clamp(Avx.ConvertToVector256Int32(x1 * inverse), low, high);
            Vector256<int> q2 = Vector256.Clamp(Avx.ConvertToVector256Int32(x2 * inverse), low, high);
            Vector256<int> q3 = Vector256.Clamp(Avx.ConvertToVector256Int32(x3 * inverse), low, high);
            Avx2.Permute4x64(Avx2.PackSignedSaturate(q0, q1).AsInt64(), 0b11_01_10_00).AsInt16().StoreUnsafe(ref qb);
            Avx2.Permute4x64(Avx2.PackSignedSaturate(q2, q3).AsInt64(), 0b11_01_10_00).AsInt16().StoreUnsafe(ref qb, 16);
        }
    }

    /// <summary>
    /// The largest magnitude of a block of four vectors as the largest of the magnitudes' bit patterns: non-negative
    /// floats order as their bits do and a NaN's lie above infinity's, so the result is the float maximum, or NaN when
    /// the block holds one (an integer maximum per pair, where a float maximum that propagates NaN takes three
    /// instructions).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float BlockMaxBits(Vector256<float> x0, Vector256<float> x1, Vector256<float> x2, Vector256<float> x3)
    {
        Vector256<int> magnitude = Vector256.Create(int.MaxValue);
        Vector256<int> bits = Vector256.Max(
            Vector256.Max(x0.AsInt32() & magnitude, x1.AsInt32() & magnitude), Vector256.Max(x2.AsInt32() & magnitude, x3.AsInt32() & magnitude));
        return BitConverter.Int32BitsToSingle(LaneMax(bits));
    }

    /// <summary>The largest of eight int32 lanes, kept in the vector (a <c>Math.Max</c> of two lanes is a branch on the data).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int LaneMax(Vector256<int> m)
    {
        Vector128<int> h = Vector128.Max(m.GetLower(), m.GetUpper());
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1)));
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(1, 0, 3, 2)));
        return h.ToScalar();
    }

    /// <summary>Largest magnitude of a block of 32 values, one at a time (processors without AVX2); NaN when the block holds one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float BlockMax(ref float xb)
    {
        float max = 0;
        for (int i = 0; i < Q8Block.Size; i++)
        {
            max = MathF.Max(max, MathF.Abs(Unsafe.Add(ref xb, i)));
        }

        return max;
    }

    /// <summary>The largest of eight lanes; NaN when one is (vector maxima propagate NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float LaneMax(Vector256<float> m)
    {
        Vector128<float> h = Vector128.Max(m.GetLower(), m.GetUpper());
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1)));
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(1, 0, 3, 2)));
        return h.ToScalar();
    }
}
