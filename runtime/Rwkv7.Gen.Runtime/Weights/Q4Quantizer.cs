using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// 4-bit quantization in blocks of <see cref="Q4Block.Size"/> values along a row: value = scale × q with q in −8…7,
/// stored as q + 8, two to a byte (value i of a block in the low nibble of byte i, value i + 16 in its high nibble),
/// blocks in groups of eight (<see cref="Q4Block"/>'s layout). Each block's scale is searched, as llama.cpp's k-quants do:
/// with m the block's value of largest magnitude, q is rounded at nine step sizes around m / −8 (GGML Q4_0's, which
/// maps m to −8), each paired with the scale that minimizes the block's squared error for those q, Σwq / Σq²; the pair
/// with the smallest error is kept. The squared error is therefore never above Q4_0's rounding and is usually below:
/// on the fixture models, the mean KL divergence from the unquantized model fell from 7.6e-2 to 5.9e-2 nats (mh4) and
/// from 8.4e-4 to 8.1e-4 (tiny).
/// </summary>
internal static class Q4Quantizer
{
    /// <summary>The step sizes tried: m / −(8 + k / 4) for k = −4…4.</summary>
    private const int Candidates = 9;

    /// <summary>
    /// Quantizes one row; <paramref name="row"/>.Length must be a multiple of the block size. The 512-bit, 256-bit and
    /// scalar paths give the same bytes and scales: the search's two sums per step size are added in one fixed order
    /// (<see cref="Reduce(Vector256{float})"/>), so a checkpoint quantizes the same on every machine.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> row, Span<byte> packed, Span<float> scales) =>
        QuantizeRow(row, packed, scales, Vector512.IsHardwareAccelerated ? QuantizerPath.Vector512 : Vector256.IsHardwareAccelerated ? QuantizerPath.Vector256 : QuantizerPath.Scalar);

    /// <summary><see cref="QuantizeRow(ReadOnlySpan{float}, Span{byte}, Span{float})"/> on a given path (tests compare them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void QuantizeRow(ReadOnlySpan<float> row, Span<byte> packed, Span<float> scales, QuantizerPath path)
    {
        const int size = Q4Block.Size;
        if (row.Length % size != 0 || packed.Length < row.Length / 2 || scales.Length < row.Length / size)
        {
            throw new ArgumentException($"Q4 rows are whole blocks of {size}; got a row of {row.Length}.");
        }

        ref float first = ref MemoryMarshal.GetReference(row);
        ref byte output = ref MemoryMarshal.GetReference(packed);
        for (int b = 0; b < row.Length / size; b++)
        {
            ref float block = ref Unsafe.Add(ref first, b * size);
            ref byte bytes = ref Unsafe.Add(ref output, b * Q4Block.PackedBytes);
            scales[b] = path switch
            {
                QuantizerPath.Vector512 => QuantizeBlock512(ref block, ref bytes),
                QuantizerPath.Vector256 => QuantizeBlock256(ref block, ref bytes),
                _ => QuantizeBlockScalar(ref block, ref bytes),
            };
        }

        Q4Block.Group(packed[..(row.Length / 2)]);
    }

    /// <summary>1 / step of candidate <paramref name="k"/> for a block whose value of largest magnitude is <paramref name="extreme"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Inverse(int k, float extreme) => -(Q4Block.Offset + ((k - (Candidates / 2)) * 0.25f)) / extreme;

    /// <summary>
    /// The least-squares scale Σwq / Σq² and the 1 / step (<see cref="Inverse"/>) of the candidate that removes the
    /// most of the block's squared error (Σwq² / Σq² is what that scale removes from Σw²), the first on ties; (0, 0)
    /// when none qualifies. A candidate whose step is not finite (values too small for 1 / step) or whose sums are not
    /// (a NaN or an infinity in the block) never does, whatever a vector path's clamp made of the NaNs along the way
    /// (see <see cref="Zero"/>).
    /// The sums of all candidates are computed before this choice, so that they overlap instead of waiting on its
    /// branches (4.1 → 3.7 ns a weight on one thread, same-run pairs, the same bytes).
    /// </summary>
    private static (float Scale, float Inverse) Best(ReadOnlySpan<float> wqs, ReadOnlySpan<float> qqs, ReadOnlySpan<float> inverses)
    {
        float bestScore = -1, bestInverse = 0, bestScale = 0;
        for (int k = 0; k < Candidates; k++)
        {
            float wq = wqs[k], qq = qqs[k], inverse = inverses[k];
            if (!float.IsFinite(inverse) || !float.IsFinite(wq) || !(qq > 0) || !float.IsFinite(qq))
            {
                continue;
            }

            float score = wq * wq / qq;
            if (score > bestScore)
            {
                (bestScore, bestInverse, bestScale) = (score, inverse, wq / qq);
            }
        }

        return (bestScale, bestInverse);
    }

    /// <summary>
    /// The sum of a block's 32 products in the order every path uses: s_j = p_j + p_(j+16), then t_j = s_j + s_(j+8),
    /// u_j = t_j + t_(j+4), and (u_0 + u_2) + (u_1 + u_3). <paramref name="t"/> holds t_0…t_7.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector256<float> t)
    {
        Vector128<float> u = t.GetLower() + t.GetUpper();
        return (u.GetElement(0) + u.GetElement(2)) + (u.GetElement(1) + u.GetElement(3));
    }

    /// <summary>
    /// <see cref="Reduce(Vector256{float})"/> of <paramref name="a"/> and <paramref name="b"/> at once, in the lanes of one
    /// 512-bit vector: the same additions (each sum of two is commutative, so the lane that computes it does not
    /// matter), half the instructions of two reductions.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float A, float B) ReducePair(Vector256<float> a, Vector256<float> b)
    {
        Vector512<float> t = Vector512.Create(a, b);
        Vector512<float> u = t + Avx512F.Shuffle4x128(t, t, 0b10_11_00_01); // t_j + t_(j+4) in lanes 0–3 and 8–11
        Vector512<float> p = u + Avx512F.Permute4x32(u, 0b01_00_11_10); // u_0 + u_2, u_1 + u_3
        Vector512<float> r = p + Avx512F.Permute4x32(p, 0b10_11_00_01); // (u_0 + u_2) + (u_1 + u_3)
        return (r.ToScalar(), r.GetElement(8));
    }

    /// <summary>
    /// The block's value of largest magnitude, the first of them on ties (its sign sets the sign of the scale).
    /// <paramref name="maxAbs"/> is the largest magnitude found by a vector path; a block with a NaN, whose
    /// maximum matches no value, takes the scalar search, which skips NaNs.
    /// </summary>
    private static float Extreme(ref float block, float maxAbs, ulong matches)
    {
        if (matches != 0 && !float.IsNaN(maxAbs))
        {
            return Unsafe.Add(ref block, BitOperations.TrailingZeroCount(matches));
        }

        float extreme = 0;
        for (int i = 0; i < Q4Block.Size; i++)
        {
            float v = Unsafe.Add(ref block, i);
            if (MathF.Abs(v) > MathF.Abs(extreme))
            {
                extreme = v;
            }
        }

        return extreme;
    }

    /// <summary>One block with two 512-bit vectors (values 0–15 and 16–31); returns its scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float QuantizeBlock512(ref float block, ref byte bytes)
    {
        Vector512<float> low = Vector512.Create((float)-Q4Block.Offset), high = Vector512.Create((float)(Q4Block.Offset - 1));
        Vector512<float> v0 = Vector512.LoadUnsafe(ref block), v1 = Vector512.LoadUnsafe(ref block, 16);
        Vector512<float> a0 = Vector512.Abs(v0), a1 = Vector512.Abs(v1);
        Vector512<float> m = Vector512.MaxNative(a0, a1);
        float maxAbs = QuantizerVectors.MaxLane(Vector256.MaxNative(m.GetLower(), m.GetUpper()));
        ulong matches = Vector512.Equals(a0, Vector512.Create(maxAbs)).ExtractMostSignificantBits()
            | (Vector512.Equals(a1, Vector512.Create(maxAbs)).ExtractMostSignificantBits() << 16);
        float extreme = Extreme(ref block, maxAbs, matches);

        Span<float> wqs = stackalloc float[Candidates], qqs = stackalloc float[Candidates], inverses = stackalloc float[Candidates];
        for (int k = 0; k < Candidates && extreme != 0; k++)
        {
            float inverse = inverses[k] = Inverse(k, extreme);
            Vector512<float> q0 = Vector512.ClampNative(Vector512.Round(v0 * inverse), low, high);
            Vector512<float> q1 = Vector512.ClampNative(Vector512.Round(v1 * inverse), low, high);
            Vector512<float> wq = (v0 * q0) + (v1 * q1), qq = (q0 * q0) + (q1 * q1);
            (wqs[k], qqs[k]) = Avx512F.IsSupported
                ? ReducePair(wq.GetLower() + wq.GetUpper(), qq.GetLower() + qq.GetUpper())
                : (Reduce(wq.GetLower() + wq.GetUpper()), Reduce(qq.GetLower() + qq.GetUpper()));
        }

        (float bestScale, float bestInverse) = extreme != 0 ? Best(wqs, qqs, inverses) : (0, 0);
        if (bestScale == 0)
        {
            return Zero(ref block, ref bytes);
        }

        Vector512<uint> lo = Vector512.ConvertToUInt32(Vector512.ClampNative(Vector512.Round(v0 * bestInverse), low, high) + Vector512.Create((float)Q4Block.Offset));
        Vector512<uint> hi = Vector512.ConvertToUInt32(Vector512.ClampNative(Vector512.Round(v1 * bestInverse), low, high) + Vector512.Create((float)Q4Block.Offset));
        Vector512<ushort> words = Vector512.Narrow(lo | (hi << 4), Vector512<uint>.Zero);
        Vector512.Narrow(words, Vector512<ushort>.Zero).GetLower().GetLower().StoreUnsafe(ref bytes);
        return bestScale;
    }

    /// <summary>
    /// A block whose search kept no step: every q is 0. The scale is 0 when the block is all zeros or its values are too
    /// small for 1 / step to be finite, and NaN when it holds a NaN or an infinity, so that a broken checkpoint gives
    /// NaN logits (which sampling reports) in 4 bits as it does in every other precision, instead of zeros.
    /// </summary>
    private static float Zero(ref float block, ref byte bytes)
    {
        Unsafe.InitBlockUnaligned(ref bytes, (Q4Block.Offset << 4) | Q4Block.Offset, Q4Block.PackedBytes);
        for (int i = 0; i < Q4Block.Size; i++)
        {
            if (!float.IsFinite(Unsafe.Add(ref block, i)))
            {
                return float.NaN;
            }
        }

        return 0;
    }

    /// <summary>One block with four 256-bit vectors (values 0–7, 8–15, 16–23, 24–31); returns its scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float QuantizeBlock256(ref float block, ref byte bytes)
    {
        Vector256<float> low = Vector256.Create((float)-Q4Block.Offset), high = Vector256.Create((float)(Q4Block.Offset - 1));
        Vector256<float> v0 = Vector256.LoadUnsafe(ref block), v1 = Vector256.LoadUnsafe(ref block, 8);
        Vector256<float> v2 = Vector256.LoadUnsafe(ref block, 16), v3 = Vector256.LoadUnsafe(ref block, 24);
        Vector256<float> a0 = Vector256.Abs(v0), a1 = Vector256.Abs(v1), a2 = Vector256.Abs(v2), a3 = Vector256.Abs(v3);
        float maxAbs = QuantizerVectors.MaxLane(Vector256.MaxNative(Vector256.MaxNative(a0, a1), Vector256.MaxNative(a2, a3)));
        Vector256<float> max = Vector256.Create(maxAbs);
        ulong matches = Vector256.Equals(a0, max).ExtractMostSignificantBits()
            | (Vector256.Equals(a1, max).ExtractMostSignificantBits() << 8)
            | (Vector256.Equals(a2, max).ExtractMostSignificantBits() << 16)
            | (Vector256.Equals(a3, max).ExtractMostSignificantBits() << 24);
        float extreme = Extreme(ref block, maxAbs, matches);

        Span<float> wqs = stackalloc float[Candidates], qqs = stackalloc float[Candidates], inverses = stackalloc float[Candidates];
        for (int k = 0; k < Candidates && extreme != 0; k++)
        {
            float inverse = inverses[k] = Inverse(k, extreme);
            Vector256<float> q0 = Round(v0, inverse, low, high), q1 = Round(v1, inverse, low, high);
            Vector256<float> q2 = Round(v2, inverse, low, high), q3 = Round(v3, inverse, low, high);
            Vector256<float> wq = ((v0 * q0) + (v2 * q2)) + ((v1 * q1) + (v3 * q3));
            Vector256<float> qq = ((q0 * q0) + (q2 * q2)) + ((q1 * q1) + (q3 * q3));
            (wqs[k], qqs[k]) = (Reduce(wq), Reduce(qq));
        }

        (float bestScale, float bestInverse) = extreme != 0 ? Best(wqs, qqs, inverses) : (0, 0);

        if (bestScale == 0)
        {
            return Zero(ref block, ref bytes);
        }

        Vector256<float> offset = Vector256.Create((float)Q4Block.Offset);
        Vector256<uint> b0 = Vector256.ConvertToUInt32(Round(v0, bestInverse, low, high) + offset) | (Vector256.ConvertToUInt32(Round(v2, bestInverse, low, high) + offset) << 4);
        Vector256<uint> b1 = Vector256.ConvertToUInt32(Round(v1, bestInverse, low, high) + offset) | (Vector256.ConvertToUInt32(Round(v3, bestInverse, low, high) + offset) << 4);
        Vector256<ushort> words = Vector256.Narrow(b0, b1);
        Vector256.Narrow(words, Vector256<ushort>.Zero).GetLower().StoreUnsafe(ref bytes);
        return bestScale;
    }

    /// <summary>round(v · inverse), ties to even, clamped to −8…7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Round(Vector256<float> v, float inverse, Vector256<float> low, Vector256<float> high) =>
        Vector256.ClampNative(Vector256.Round(v * inverse), low, high);

    /// <summary>One block a value at a time, in the vector paths' order of additions; returns its scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float QuantizeBlockScalar(ref float block, ref byte bytes)
    {
        const int size = Q4Block.Size, half = size / 2;
        float extreme = Extreme(ref block, float.NaN, 0);
        Span<float> wq = stackalloc float[half], qq = stackalloc float[half];
        Span<float> wqs = stackalloc float[Candidates], qqs = stackalloc float[Candidates], inverses = stackalloc float[Candidates];
        for (int k = 0; k < Candidates && extreme != 0; k++)
        {
            float inverse = inverses[k] = Inverse(k, extreme);
            for (int j = 0; j < half; j++)
            {
                float w0 = Unsafe.Add(ref block, j), w1 = Unsafe.Add(ref block, j + half);
                float q0 = Round(w0, inverse), q1 = Round(w1, inverse);
                (wq[j], qq[j]) = ((w0 * q0) + (w1 * q1), (q0 * q0) + (q1 * q1));
            }

            (wqs[k], qqs[k]) = (Reduce(wq), Reduce(qq));
        }

        (float bestScale, float bestInverse) = extreme != 0 ? Best(wqs, qqs, inverses) : (0, 0);

        if (bestScale == 0)
        {
            return Zero(ref block, ref bytes);
        }

        for (int i = 0; i < half; i++)
        {
            int lo = (int)Round(Unsafe.Add(ref block, i), bestInverse) + Q4Block.Offset;
            int hi = (int)Round(Unsafe.Add(ref block, i + half), bestInverse) + Q4Block.Offset;
            Unsafe.Add(ref bytes, i) = (byte)(lo | (hi << 4));
        }

        return bestScale;
    }

    /// <summary>
    /// <see cref="Reduce(Vector256{float})"/> from s_0…s_15 one at a time: t_j = s_j + s_(j+8), u_j = t_j + t_(j+4), then
    /// (u_0 + u_2) + (u_1 + u_3).
    /// </summary>
    private static float Reduce(ReadOnlySpan<float> s)
    {
        float u0 = (s[0] + s[8]) + (s[4] + s[12]), u1 = (s[1] + s[9]) + (s[5] + s[13]);
        float u2 = (s[2] + s[10]) + (s[6] + s[14]), u3 = (s[3] + s[11]) + (s[7] + s[15]);
        return (u0 + u2) + (u1 + u3);
    }

    /// <summary>round(v · inverse), ties to even, clamped to −8…7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Round(float v, float inverse) => Math.Clamp(MathF.Round(v * inverse), -Q4Block.Offset, Q4Block.Offset - 1);

    /// <summary>
    /// Reconstructs <paramref name="row"/>.Length values (a multiple of the block size) from whole blocks in
    /// <see cref="Q4Block"/>'s layout (groups of eight from the first block, then blocks one by one):
    /// <paramref name="packed"/> and <paramref name="scales"/> start at the first of them.
    /// </summary>
    public static void DequantizeRow(ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales, Span<float> row)
    {
        const int size = Q4Block.Size;
        int blocks = row.Length / size;
        if (packed.Length < blocks * Q4Block.PackedBytes || scales.Length < blocks)
        {
            throw new ArgumentException($"{row.Length} values need {blocks * Q4Block.PackedBytes} packed bytes and {blocks} scales.");
        }

        int grouped = blocks / Q4Block.GroupBlocks * Q4Block.GroupBlocks;
        Span<byte> plain = stackalloc byte[Q4Block.GroupBytes];
        for (int b = 0; b < grouped; b += Q4Block.GroupBlocks)
        {
            Q4Block.Ungroup(packed.Slice(b * Q4Block.PackedBytes, Q4Block.GroupBytes), plain);
            DequantizeBlocks(plain, scales.Slice(b, Q4Block.GroupBlocks), row.Slice(b * size, Q4Block.GroupBlocks * size));
        }

        DequantizeBlocks(packed[(grouped * Q4Block.PackedBytes)..], scales[grouped..], row[(grouped * size)..]);
    }

    /// <summary>As <see cref="DequantizeRow"/> for blocks stored one by one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DequantizeBlocks(ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales, Span<float> row)
    {
        const int size = Q4Block.Size, half = size / 2;
        int blocks = row.Length / size;
        ref byte p = ref MemoryMarshal.GetReference(packed);
        ref float o = ref MemoryMarshal.GetReference(row);
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            Vector512<int> nibble = Vector512.Create(0xF), offset = Vector512.Create(Q4Block.Offset);
            for (int b = 0; b < blocks; b++)
            {
                Vector512<int> bytes = Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref p, (nuint)(b * Q4Block.PackedBytes)));
                Vector512<float> scale = Vector512.Create(scales[b]);
                (Vector512.ConvertToSingle((bytes & nibble) - offset) * scale).StoreUnsafe(ref o, (nuint)(b * size));
                (Vector512.ConvertToSingle((bytes >>> 4) - offset) * scale).StoreUnsafe(ref o, (nuint)((b * size) + half));
            }

            return;
        }

        for (int b = 0; b < blocks; b++)
        {
            float scale = scales[b];
            ReadOnlySpan<byte> bytes = packed.Slice(b * Q4Block.PackedBytes, Q4Block.PackedBytes);
            Span<float> block = row.Slice(b * size, size);
            for (int i = 0; i < half; i++)
            {
                block[i] = scale * ((bytes[i] & 0xF) - Q4Block.Offset);
                block[i + half] = scale * ((bytes[i] >> 4) - Q4Block.Offset);
            }
        }
    }
}
