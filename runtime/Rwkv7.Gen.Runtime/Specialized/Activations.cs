using System.ComponentModel;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// The element-wise functions of a step (the LoRA MLPs' tanh and sigmoids, the decay, the channel mix's squared ReLU,
/// the value residual's mix), for the generated kernels and the orchestrator. They were <c>TensorPrimitives</c> calls,
/// whose code a JIT process runs unoptimized (tier 0, each vector operation a call) until it has been called often
/// enough: a 4-bit 0.1B model decoded its first hundred tokens at 210–330 tokens/s against 410–550 with those methods
/// warmed up, and reached full speed only after about a thousand (docs/benchmarks.md, change 56). These are compiled
/// optimized from their first call (<see cref="MethodImplOptions.AggressiveOptimization"/>), on the widest vectors the
/// processor has (<see cref="Elementwise.Map{TOp}"/>: an element's result does not depend on where it falls in its
/// span), with <see cref="Vector512.Exp(Vector512{float})"/> and its narrower forms for the exponentials.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Activations
{
    /// <summary>x ← max(x, 0)², in place.</summary>
    public static void SquaredRelu(Span<float> x) => Elementwise.Map<SquaredReluOp>(x, x, 0f, 0f);

    /// <summary>x ← 1 / (1 + e^−x), in place.</summary>
    public static void Sigmoid(Span<float> x) => Elementwise.Map<SigmoidOp>(x, x, 0f, 0f);

    /// <summary>x ← tanh(x), in place, within a few units in the last place (see <see cref="TanhOp"/>).</summary>
    public static void Tanh(Span<float> x) => Elementwise.Map<TanhOp>(x, x, 0f, 0f);

    /// <summary>x ← e^(<paramref name="scale"/> · sigmoid(x)), in place: the time mix's decay from its LoRA's output.</summary>
    public static void Decay(Span<float> x, float scale) => Elementwise.Map<DecayOp>(x, x, scale, 0f);

    /// <summary>
    /// Rounds <paramref name="x"/> (a whole number of blocks of 32) to 16-bit <paramref name="values"/> with one scale
    /// per block in <paramref name="scales"/> (x ≈ value × scale, within 2⁻¹⁶ of the block's largest magnitude): the
    /// inputs of <c>MatMulQ8Int16</c>, the one-token products of 8-bit matrices.
    /// </summary>
    public static void RoundToInt16(ReadOnlySpan<float> x, Span<short> values, Span<float> scales) => Int16Activations.Quantize(x, values, scales);

    /// <summary>x ← x + y, in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(Span<float> x, ReadOnlySpan<float> y)
    {
        if (y.Length < x.Length)
        {
            throw new ArgumentException($"Adding {y.Length} values to {x.Length}.", nameof(y));
        }

        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        for (; i + Vector<float>.Count <= x.Length; i += Vector<float>.Count)
        {
            (Vector.LoadUnsafe(ref xr, (nuint)i) + Vector.LoadUnsafe(ref yr, (nuint)i)).StoreUnsafe(ref xr, (nuint)i);
        }

        for (; i < x.Length; i++)
        {
            Unsafe.Add(ref xr, i) += Unsafe.Add(ref yr, i);
        }
    }

    /// <summary>x ← x + (y − x) · amount, in place (the value residual's mix toward the first layer's values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Lerp(Span<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> amount)
    {
        if (y.Length < x.Length || amount.Length < x.Length)
        {
            throw new ArgumentException($"Mixing {x.Length} values with {y.Length} and {amount.Length}.", nameof(y));
        }

        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float ar = ref MemoryMarshal.GetReference(amount);
        int i = 0;
        for (; i + Vector<float>.Count <= x.Length; i += Vector<float>.Count)
        {
            Vector<float> v = Vector.LoadUnsafe(ref xr, (nuint)i);
            (v + ((Vector.LoadUnsafe(ref yr, (nuint)i) - v) * Vector.LoadUnsafe(ref ar, (nuint)i))).StoreUnsafe(ref xr, (nuint)i);
        }

        for (; i < x.Length; i++)
        {
            float v = Unsafe.Add(ref xr, i);
            Unsafe.Add(ref xr, i) = v + ((Unsafe.Add(ref yr, i) - v) * Unsafe.Add(ref ar, i));
        }
    }

    private readonly struct SquaredReluOp : IElementwise
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b)
        {
            Vector512<float> m = Vector512.Max(x, Vector512<float>.Zero);
            return m * m;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
        {
            Vector256<float> m = Vector256.Max(x, Vector256<float>.Zero);
            return m * m;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Apply(Vector128<float> x, Vector128<float> a, Vector128<float> b)
        {
            Vector128<float> m = Vector128.Max(x, Vector128<float>.Zero);
            return m * m;
        }
    }

    private readonly struct SigmoidOp : IElementwise
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-x));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-x));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Apply(Vector128<float> x, Vector128<float> a, Vector128<float> b) => Vector128<float>.One / (Vector128<float>.One + Vector128.Exp(-x));
    }

    /// <summary>
    /// tanh: below |x| = 0.55 its odd Taylor polynomial to x¹⁷ (truncation under 3e-9 there), above it
    /// (1 − e^−2|x|) / (1 + e^−2|x|), where 1 − e^−2|x| ≥ 0.66 loses no precision to cancellation; then the sign of x
    /// (so tanh(−0) is −0).
    /// </summary>
    private readonly struct TanhOp : IElementwise
    {
        private const float Threshold = 0.55f;

        // tanh x = x · Σ cₖ x²ᵏ: 1, −1/3, 2/15, −17/315, 62/2835, −1382/155925, 21844/6081075, −929569/638512875,
        // 6404582/10854718875.
        private const float C1 = -1f / 3, C2 = 2f / 15, C3 = -17f / 315, C4 = 62f / 2835, C5 = -1382f / 155925;
        private const float C6 = 21844f / 6081075, C7 = -929569f / 638512875, C8 = 6404582f / 10854718875;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b)
        {
            Vector512<float> ax = Vector512.Abs(x), e = Vector512.Exp(Vector512.Create(-2f) * ax), one = Vector512<float>.One;
            Vector512<float> large = (one - e) / (one + e);
            Vector512<float> z = x * x, p = Vector512.Create(C8);
            p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(C7));
            p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(C6));
            p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(C5));
            p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(C4));
            p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(C3));
            p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(C2));
            p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(C1));
            Vector512<float> small = Vector512.FusedMultiplyAdd(x * z, p, x);
            return Vector512.CopySign(Vector512.ConditionalSelect(Vector512.LessThan(ax, Vector512.Create(Threshold)), small, large), x);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b)
        {
            Vector256<float> ax = Vector256.Abs(x), e = Vector256.Exp(Vector256.Create(-2f) * ax), one = Vector256<float>.One;
            Vector256<float> large = (one - e) / (one + e);
            Vector256<float> z = x * x, p = Vector256.Create(C8);
            p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(C7));
            p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(C6));
            p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(C5));
            p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(C4));
            p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(C3));
            p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(C2));
            p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(C1));
            Vector256<float> small = Vector256.FusedMultiplyAdd(x * z, p, x);
            return Vector256.CopySign(Vector256.ConditionalSelect(Vector256.LessThan(ax, Vector256.Create(Threshold)), small, large), x);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Apply(Vector128<float> x, Vector128<float> a, Vector128<float> b)
        {
            Vector128<float> ax = Vector128.Abs(x), e = Vector128.Exp(Vector128.Create(-2f) * ax), one = Vector128<float>.One;
            Vector128<float> large = (one - e) / (one + e);
            Vector128<float> z = x * x, p = Vector128.Create(C8);
            p = Vector128.FusedMultiplyAdd(p, z, Vector128.Create(C7));
            p = Vector128.FusedMultiplyAdd(p, z, Vector128.Create(C6));
            p = Vector128.FusedMultiplyAdd(p, z, Vector128.Create(C5));
            p = Vector128.FusedMultiplyAdd(p, z, Vector128.Create(C4));
            p = Vector128.FusedMultiplyAdd(p, z, Vector128.Create(C3));
            p = Vector128.FusedMultiplyAdd(p, z, Vector128.Create(C2));
            p = Vector128.FusedMultiplyAdd(p, z, Vector128.Create(C1));
            Vector128<float> small = Vector128.FusedMultiplyAdd(x * z, p, x);
            return Vector128.CopySign(Vector128.ConditionalSelect(Vector128.LessThan(ax, Vector128.Create(Threshold)), small, large), x);
        }
    }

    private readonly struct DecayOp : IElementwise
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => Vector512.Exp(a * SigmoidOp.Apply(x, a, b));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.Exp(a * SigmoidOp.Apply(x, a, b));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Apply(Vector128<float> x, Vector128<float> a, Vector128<float> b) => Vector128.Exp(a * SigmoidOp.Apply(x, a, b));
    }
}
