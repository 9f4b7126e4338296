using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen;

/// <summary>
/// Conversions of tensor data between the element types a checkpoint stores and the ones weights are packed in:
/// widening (exact), rounding to bf16, narrowing to bf16 only when exact, and the LoRA factors' transposition.
/// </summary>
internal static class TensorConversions
{
    /// <summary>Converts <paramref name="source"/> (elements of <paramref name="from"/>) into <paramref name="destination"/> (elements of <paramref name="to"/>).</summary>
    public static void Convert(ReadOnlySpan<byte> source, TensorDType from, Span<byte> destination, TensorDType to)
    {
        if (from == to)
        {
            source.CopyTo(destination);
            return;
        }

        if (to == TensorDType.F32 && from is TensorDType.BF16 or TensorDType.F16)
        {
            // Widening, exact: the vectorized forms of Read.
            Span<float> wide = MemoryMarshal.Cast<byte, float>(destination);
            if (from == TensorDType.BF16)
            {
                BFloat16Conversions.ToSingle(MemoryMarshal.Cast<byte, ushort>(source), wide);
            }
            else
            {
                HalfConversions.ToSingle(MemoryMarshal.Cast<byte, Half>(source), wide);
            }

            return;
        }

        if (from == TensorDType.F32 && to == TensorDType.BF16)
        {
            // An fp32 checkpoint asked for in bf16: rounded with vectors, as the per-value loop below rounds.
            BFloat16Conversions.FromSingle(MemoryMarshal.Cast<byte, float>(source), MemoryMarshal.Cast<byte, ushort>(destination));
            return;
        }

        int count = source.Length / from.SizeInBytes();
        for (int i = 0; i < count; i++)
        {
            Write(destination, to, i, Read(source, from, i));
        }
    }

    /// <summary>
    /// Converts a (<paramref name="rows"/>, <paramref name="cols"/>) matrix into its transpose: a LoRA factor stored
    /// (in, out) and used as x·A becomes (out, in), used as Aᵀ·x like every other product.
    /// </summary>
    public static void TransposeConvert(ReadOnlySpan<byte> source, TensorDType from, int rows, int cols, Span<byte> destination, TensorDType to)
    {
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                Write(destination, to, (c * rows) + r, Read(source, from, (r * cols) + c));
            }
        }
    }

    /// <summary>
    /// Converts fp16 or fp32 values to bf16 into <paramref name="destination"/> if every one converts exactly (the low
    /// 16 bits of its fp32 value are zero: at most 8 significant bits, which any bf16 checkpoint's values have);
    /// returns false, leaving <paramref name="destination"/> partly written, at the first block that does not.
    /// </summary>
    public static bool TryNarrowExactly(ReadOnlySpan<byte> source, TensorDType stored, Span<byte> destination)
    {
        Span<ushort> narrowed = MemoryMarshal.Cast<byte, ushort>(destination);
        if (stored == TensorDType.F32)
        {
            return TryNarrowSingles(MemoryMarshal.Cast<byte, uint>(source), narrowed);
        }

        ReadOnlySpan<Half> halves = MemoryMarshal.Cast<byte, Half>(source);
        Span<float> wide = stackalloc float[256];
        for (int start = 0; start < halves.Length; start += wide.Length)
        {
            int n = Math.Min(wide.Length, halves.Length - start);
            System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(halves.Slice(start, n), wide[..n]);
            if (!TryNarrowSingles(MemoryMarshal.Cast<float, uint>(wide[..n]), narrowed.Slice(start, n)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether every fp16 or fp32 value in <paramref name="source"/> converts to bf16 exactly (see <see cref="TryNarrowExactly"/>).</summary>
    public static bool HoldsExactlyInBFloat16(ReadOnlySpan<byte> source, TensorDType stored)
    {
        if (stored == TensorDType.F32)
        {
            foreach (uint bits in MemoryMarshal.Cast<byte, uint>(source))
            {
                if ((bits & 0xFFFF) != 0)
                {
                    return false;
                }
            }

            return true;
        }

        foreach (Half h in MemoryMarshal.Cast<byte, Half>(source))
        {
            if ((BitConverter.SingleToUInt32Bits((float)h) & 0xFFFF) != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The high halves of fp32 bit patterns, if every low half is zero (see <see cref="TryNarrowExactly"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool TryNarrowSingles(ReadOnlySpan<uint> bits, Span<ushort> narrowed)
    {
        int i = 0;
        var low = Vector256.Create(0xFFFFu);
        for (; i + (2 * Vector256<uint>.Count) <= bits.Length; i += 2 * Vector256<uint>.Count)
        {
            var a = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(bits), (nuint)i);
            var b = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(bits), (nuint)(i + Vector256<uint>.Count));
            if (((a | b) & low) != Vector256<uint>.Zero)
            {
                return false;
            }

            Vector256.Narrow(a >> 16, b >> 16).StoreUnsafe(ref MemoryMarshal.GetReference(narrowed), (nuint)i);
        }

        for (; i < bits.Length; i++)
        {
            if ((bits[i] & 0xFFFF) != 0)
            {
                return false;
            }

            narrowed[i] = (ushort)(bits[i] >> 16);
        }

        return true;
    }

    private static float Read(ReadOnlySpan<byte> data, TensorDType type, int index) => type switch
    {
        TensorDType.F32 => MemoryMarshal.Cast<byte, float>(data)[index],
        TensorDType.BF16 => BFloat16Conversions.ToSingle(MemoryMarshal.Cast<byte, ushort>(data)[index]),
        _ => (float)MemoryMarshal.Cast<byte, Half>(data)[index],
    };

    private static void Write(Span<byte> data, TensorDType type, int index, float value)
    {
        switch (type)
        {
            case TensorDType.F32: MemoryMarshal.Cast<byte, float>(data)[index] = value; break;
            case TensorDType.BF16: MemoryMarshal.Cast<byte, ushort>(data)[index] = BFloat16Conversions.FromSingle(value); break;
            default: MemoryMarshal.Cast<byte, Half>(data)[index] = (Half)value; break;
        }
    }
}
