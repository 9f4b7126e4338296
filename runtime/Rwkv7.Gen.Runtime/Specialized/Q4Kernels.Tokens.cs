using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Specialized;

// Products of 4-bit rows by several tokens' 8-bit inputs (Q4Kernels.cs has the whole and the dispatch): small batches
// and short prompts, summed per (row, token) exactly as the one-token products of Q4Kernels.V512.cs and .V256.cs sum.
internal static partial class Q4Kernels
{
    /// <summary>
    /// Bytes a pass keeps in L1 (48 KiB on Zen 5 and on Intel since Golden Cove, 32 KiB on Zen 2–4): a chunk of rows and
    /// the arranged inputs of the group of (up to) four tokens it sums.
    /// </summary>
    private const int TokenWorkingSetBytes = 40 << 10;

    /// <summary>The least bytes of rows in a chunk, where a group's inputs alone fill the working set.</summary>
    private const int TokenChunkMinBytes = 8 << 10;

    /// <summary>
    /// Rows per chunk for rows of <paramref name="n"/> inputs: what fits in <see cref="TokenWorkingSetBytes"/> beside
    /// one group's inputs. Passes go over a chunk's rows group after group, so the rows come from memory once and every
    /// group's inputs stay in L1 over the chunk. (Passing every group over each row in turn instead re-read all the
    /// tokens' inputs per row: 16 tokens at 3,072 inputs are 96 KiB, and the FFN value products ran at half the rate
    /// of 4 tokens; change 55 in docs/benchmarks.md.)
    /// </summary>
    private static int TokenChunkRows(int n, int tokens)
    {
        int group = Math.Min(tokens, 4) * n * sizeof(sbyte);
        return Math.Max(1, Math.Max(TokenChunkMinBytes, TokenWorkingSetBytes - group) / Q4Block.RowBytes(n));
    }

    /// <summary>
    /// 512 bits: a chunk of rows at a time (<see cref="TokenChunkRows"/>), in one pass over its rows per group of
    /// tokens: fours, then a two, then a one; each group sums every step of four blocks of a row as the one-token product
    /// sums it (<see cref="MatMulInt8V512{TPrefetch}"/>: the same operations on the same values in the same order),
    /// with the row's nibbles unpacked once per step and group and the token's scale products in place of the row's.
    /// The first group's pass requests the rows a fetch distance ahead; the others find them in L1. A pass is a method of its
    /// own per group size, with the row's arithmetic written in it: the three group sizes inlined into one loop exceeded
    /// the JIT's inlining budget (calls and spilled pointers in the loop), and so, after three more locals, did a row
    /// method inlined into the pass, which then ran as a tier-0 call per row (3–5 G weight·tokens per second against
    /// 53). <see cref="MatMulTokensV256{TPrefetch, TSums}"/> repeats these loops at 256 bits for the same reason.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulTokensV512<TPrefetch>(ref byte w, int n, TokenInputs x, ref float y, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
    {
        int tokens = x.Tokens, chunk = TokenChunkRows(n, tokens);
        for (int r = rowStart; r < rowEnd; r += chunk)
        {
            int end = Math.Min(rowEnd, r + chunk), t = 0;
            for (; t + 4 <= tokens; t += 4)
            {
                TokenPassV512<TPrefetch, FourTokens>(ref w, n, x, t, ref y, yStride, r, end, accumulate);
            }

            if (tokens - t >= 2)
            {
                TokenPassV512<TPrefetch, TwoTokens>(ref w, n, x, t, ref y, yStride, r, end, accumulate);
                t += 2;
            }

            if (t < tokens)
            {
                TokenPassV512<TPrefetch, OneToken>(ref w, n, x, t, ref y, yStride, r, end, accumulate);
            }
        }
    }

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) for the <typeparamref name="TGroup"/> tokens from
    /// <paramref name="first"/>; a group of fewer than four repeats its first token in the unused sums (folded away:
    /// <typeparamref name="TGroup"/> is a constant to the JIT).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void TokenPassV512<TPrefetch, TGroup>(ref byte w, int n, TokenInputs x, int first, ref float y, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
        where TGroup : struct, ITokenGroup
    {
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, quads = blocks / 4;
        bool two = TGroup.Count >= 2, four = TGroup.Count == 4;
        nuint fetch = (nuint)(Prefetch.TilesAhead(TPrefetch.AheadBytes, stride) * stride);
        for (int r = rowStart; r < rowEnd; r++)
        {
            ref byte row = ref Unsafe.Add(ref w, (nint)r * stride);
            ref float ws = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref row, n / 2));
            if (first == 0)
            {
                for (int at = 0; at < stride; at += 64)
                {
                    TPrefetch.Line(ref row, fetch + (nuint)at);
                }
            }

            int t = first;
            ref float yt = ref Unsafe.Add(ref y, ((nint)t * yStride) + r);
            int t1 = two ? t + 1 : t, t2 = four ? t + 2 : t, t3 = four ? t + 3 : t;
            ref sbyte x0 = ref x.ArrangedOf(t), x1 = ref x.ArrangedOf(t1), x2 = ref x.ArrangedOf(t2), x3 = ref x.ArrangedOf(t3);
            ref int k0 = ref x.OffsetsOf(t), k1 = ref x.OffsetsOf(t1), k2 = ref x.OffsetsOf(t2), k3 = ref x.OffsetsOf(t3);
            ref float s0 = ref x.ScalesOf(t), s1 = ref x.ScalesOf(t1), s2 = ref x.ScalesOf(t2), s3 = ref x.ScalesOf(t3);
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            int q = 0;

            // Sixteen blocks' scale products per token at a time, then eight, then four, as the one-token product.
            for (; q + 4 <= quads; q += 4)
            {
                Vector512<float> ws16 = Vector512.LoadUnsafe(ref ws, (nuint)(4 * q));
                TokenQuads<TGroup>(
                    ref row, ref x0, ref x1, ref x2, ref x3, ref k0, ref k1, ref k2, ref k3, q, 4,
                    ws16 * Vector512.LoadUnsafe(ref s0, (nuint)(4 * q)), two ? ws16 * Vector512.LoadUnsafe(ref s1, (nuint)(4 * q)) : default,
                    four ? ws16 * Vector512.LoadUnsafe(ref s2, (nuint)(4 * q)) : default, four ? ws16 * Vector512.LoadUnsafe(ref s3, (nuint)(4 * q)) : default,
                    ref a0, ref a1, ref a2, ref a3);
            }

            if (q + 2 <= quads)
            {
                Vector256<float> ws8 = Vector256.LoadUnsafe(ref ws, (nuint)(4 * q));
                TokenQuads<TGroup>(
                    ref row, ref x0, ref x1, ref x2, ref x3, ref k0, ref k1, ref k2, ref k3, q, 2,
                    (ws8 * Vector256.LoadUnsafe(ref s0, (nuint)(4 * q))).ToVector512Unsafe(), two ? (ws8 * Vector256.LoadUnsafe(ref s1, (nuint)(4 * q))).ToVector512Unsafe() : default,
                    four ? (ws8 * Vector256.LoadUnsafe(ref s2, (nuint)(4 * q))).ToVector512Unsafe() : default, four ? (ws8 * Vector256.LoadUnsafe(ref s3, (nuint)(4 * q))).ToVector512Unsafe() : default,
                    ref a0, ref a1, ref a2, ref a3);
                q += 2;
            }

            if (q < quads)
            {
                Vector128<float> ws4 = Vector128.LoadUnsafe(ref ws, (nuint)(4 * q));
                TokenQuads<TGroup>(
                    ref row, ref x0, ref x1, ref x2, ref x3, ref k0, ref k1, ref k2, ref k3, q, 1,
                    (ws4 * Vector128.LoadUnsafe(ref s0, (nuint)(4 * q))).ToVector256Unsafe().ToVector512Unsafe(),
                    two ? (ws4 * Vector128.LoadUnsafe(ref s1, (nuint)(4 * q))).ToVector256Unsafe().ToVector512Unsafe() : default,
                    four ? (ws4 * Vector128.LoadUnsafe(ref s2, (nuint)(4 * q))).ToVector256Unsafe().ToVector512Unsafe() : default,
                    four ? (ws4 * Vector128.LoadUnsafe(ref s3, (nuint)(4 * q))).ToVector256Unsafe().ToVector512Unsafe() : default,
                    ref a0, ref a1, ref a2, ref a3);
            }

            for (int b = 4 * quads; b < blocks; b++)
            {
                nuint at = (nuint)(b * Q4Block.PackedBytes);
                float s = Unsafe.Add(ref ws, b);
                a0 = Vector512.FusedMultiplyAdd(TokenBlockSums(ref row, at, x, t, b).ToVector512(), Vector512.Create(s * Unsafe.Add(ref s0, b)), a0);
                if (two)
                {
                    a1 = Vector512.FusedMultiplyAdd(TokenBlockSums(ref row, at, x, t + 1, b).ToVector512(), Vector512.Create(s * Unsafe.Add(ref s1, b)), a1);
                }

                if (four)
                {
                    a2 = Vector512.FusedMultiplyAdd(TokenBlockSums(ref row, at, x, t + 2, b).ToVector512(), Vector512.Create(s * Unsafe.Add(ref s2, b)), a2);
                    a3 = Vector512.FusedMultiplyAdd(TokenBlockSums(ref row, at, x, t + 3, b).ToVector512(), Vector512.Create(s * Unsafe.Add(ref s3, b)), a3);
                }
            }

            Store(ref yt, 0, Vector512.Sum(a0), accumulate);
            if (two)
            {
                Store(ref yt, yStride, Vector512.Sum(a1), accumulate);
            }

            if (four)
            {
                Store(ref yt, 2 * yStride, Vector512.Sum(a2), accumulate);
                Store(ref yt, 3 * yStride, Vector512.Sum(a3), accumulate);
            }
        }
    }

    /// <summary>
    /// <paramref name="count"/> steps of four blocks from step <paramref name="first"/> of one row for a group of
    /// tokens, whose scale products (the row's weight scale × the token's input scale, one lane per block from the
    /// first step's first block) are <paramref name="c0"/>…<paramref name="c3"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TokenQuads<TGroup>(
        ref byte row, ref sbyte x0, ref sbyte x1, ref sbyte x2, ref sbyte x3, ref int k0, ref int k1, ref int k2, ref int k3, int first, int count,
        Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
        where TGroup : struct, ITokenGroup
    {
        Vector512<byte> nibble = Vector512.Create((byte)0xF);
        Vector512<int> index = Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), four = Vector512.Create(4);
        for (int q = first, end = first + count; q < end; q++, index += four)
        {
            Vector512<byte> bytes = Vector512.LoadUnsafe(ref row, (nuint)(q * 64));
            Vector512<byte> low = bytes & nibble, high = (bytes.AsUInt16() >>> 4).AsByte() & nibble;
            nuint xq = (nuint)(q * 128), kq = (nuint)(q * 16);
            a0 = Vector512.FusedMultiplyAdd(TokenQuadSums(low, high, ref x0, xq, ref k0, kq), Avx512F.PermuteVar16x32(c0, index), a0);
            if (TGroup.Count >= 2)
            {
                a1 = Vector512.FusedMultiplyAdd(TokenQuadSums(low, high, ref x1, xq, ref k1, kq), Avx512F.PermuteVar16x32(c1, index), a1);
            }

            if (TGroup.Count == 4)
            {
                a2 = Vector512.FusedMultiplyAdd(TokenQuadSums(low, high, ref x2, xq, ref k2, kq), Avx512F.PermuteVar16x32(c2, index), a2);
                a3 = Vector512.FusedMultiplyAdd(TokenQuadSums(low, high, ref x3, xq, ref k3, kq), Avx512F.PermuteVar16x32(c3, index), a3);
            }
        }
    }

    /// <summary>Σ (q − 8)·x per int32 lane for four blocks of one token, from the row's unpacked nibbles, as fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> TokenQuadSums(Vector512<byte> low, Vector512<byte> high, ref sbyte xa, nuint at, ref int ko, nuint kat) =>
        QuadSums(low, high, Vector512.LoadUnsafe(ref xa, at), Vector512.LoadUnsafe(ref xa, at + 64), Vector512.LoadUnsafe(ref ko, kat));

    /// <summary>
    /// 256 bits, as <see cref="MatMulTokensV512{TPrefetch}"/> over the one-token 256-bit product's steps of two blocks
    /// (<see cref="MatMulInt8V256{TPrefetch, TSums}"/>), with its sums (<typeparamref name="TSums"/>: <c>vpdpbusd</c>
    /// where AVX-VNNI is present).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulTokensV256<TPrefetch, TSums>(ref byte w, int n, TokenInputs x, ref float y, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
        where TSums : struct, IPairSums
    {
        int tokens = x.Tokens, chunk = TokenChunkRows(n, tokens);
        for (int r = rowStart; r < rowEnd; r += chunk)
        {
            int end = Math.Min(rowEnd, r + chunk), t = 0;
            for (; t + 4 <= tokens; t += 4)
            {
                TokenPassV256<TPrefetch, TSums, FourTokens>(ref w, n, x, t, ref y, yStride, r, end, accumulate);
            }

            if (tokens - t >= 2)
            {
                TokenPassV256<TPrefetch, TSums, TwoTokens>(ref w, n, x, t, ref y, yStride, r, end, accumulate);
                t += 2;
            }

            if (t < tokens)
            {
                TokenPassV256<TPrefetch, TSums, OneToken>(ref w, n, x, t, ref y, yStride, r, end, accumulate);
            }
        }
    }

    /// <summary>
    /// Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) for the <typeparamref name="TGroup"/> tokens from
    /// <paramref name="first"/>, at 256 bits, as
    /// <see cref="TokenPassV512{TPrefetch, TGroup}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void TokenPassV256<TPrefetch, TSums, TGroup>(ref byte w, int n, TokenInputs x, int first, ref float y, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
        where TSums : struct, IPairSums
        where TGroup : struct, ITokenGroup
    {
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, pairs = blocks / 2;
        bool two = TGroup.Count >= 2, four = TGroup.Count == 4;
        nuint fetch = (nuint)(Prefetch.TilesAhead(TPrefetch.AheadBytes, stride) * stride);
        for (int r = rowStart; r < rowEnd; r++)
        {
            ref byte row = ref Unsafe.Add(ref w, (nint)r * stride);
            ref float ws = ref Unsafe.As<byte, float>(ref Unsafe.Add(ref row, n / 2));
            if (first == 0)
            {
                for (int at = 0; at < stride; at += 64)
                {
                    TPrefetch.Line(ref row, fetch + (nuint)at);
                }
            }

            int t = first;
            ref float yt = ref Unsafe.Add(ref y, ((nint)t * yStride) + r);
            int t1 = two ? t + 1 : t, t2 = four ? t + 2 : t, t3 = four ? t + 3 : t;
            ref sbyte x0 = ref x.ArrangedOf(t), x1 = ref x.ArrangedOf(t1), x2 = ref x.ArrangedOf(t2), x3 = ref x.ArrangedOf(t3);
            ref int k0 = ref x.OffsetsOf(t), k1 = ref x.OffsetsOf(t1), k2 = ref x.OffsetsOf(t2), k3 = ref x.OffsetsOf(t3);
            ref float s0 = ref x.ScalesOf(t), s1 = ref x.ScalesOf(t1), s2 = ref x.ScalesOf(t2), s3 = ref x.ScalesOf(t3);
            Vector256<byte> nibble = Vector256.Create((byte)0xF);
            Vector256<int> spread = Vector256.Create(0, 0, 0, 0, 1, 1, 1, 1), step = Vector256.Create(2);
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            Vector256<float> c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            Vector256<int> index = spread;
            for (int p = 0; p < pairs; p++, index += step)
            {
                if ((p & 3) == 0)
                {
                    int b = 2 * p;
                    if (b + 8 <= blocks)
                    {
                        // Eight blocks' weight scale × input scale per token.
                        Vector256<float> ws8 = Vector256.LoadUnsafe(ref ws, (nuint)b);
                        c0 = ws8 * Vector256.LoadUnsafe(ref s0, (nuint)b);
                        c1 = two ? ws8 * Vector256.LoadUnsafe(ref s1, (nuint)b) : c1;
                        c2 = four ? ws8 * Vector256.LoadUnsafe(ref s2, (nuint)b) : c2;
                        c3 = four ? ws8 * Vector256.LoadUnsafe(ref s3, (nuint)b) : c3;
                    }
                    else
                    {
                        for (int j = 0; b + j < 2 * pairs; j++)
                        {
                            float s = Unsafe.Add(ref ws, b + j);
                            c0 = c0.WithElement(j, s * Unsafe.Add(ref s0, b + j));
                            c1 = two ? c1.WithElement(j, s * Unsafe.Add(ref s1, b + j)) : c1;
                            c2 = four ? c2.WithElement(j, s * Unsafe.Add(ref s2, b + j)) : c2;
                            c3 = four ? c3.WithElement(j, s * Unsafe.Add(ref s3, b + j)) : c3;
                        }
                    }

                    index = spread;
                }

                Vector256<byte> bytes = Vector256.LoadUnsafe(ref row, (nuint)(p * 32));
                Vector256<byte> low = bytes & nibble, high = (bytes.AsUInt16() >>> 4).AsByte() & nibble;
                nuint xp = (nuint)(p * 64), kp = (nuint)(p * 8);
                a0 = Vector256.FusedMultiplyAdd(TokenPairSums<TSums>(low, high, ref x0, xp, ref k0, kp), Avx2.PermuteVar8x32(c0, index), a0);
                if (two)
                {
                    a1 = Vector256.FusedMultiplyAdd(TokenPairSums<TSums>(low, high, ref x1, xp, ref k1, kp), Avx2.PermuteVar8x32(c1, index), a1);
                }

                if (four)
                {
                    a2 = Vector256.FusedMultiplyAdd(TokenPairSums<TSums>(low, high, ref x2, xp, ref k2, kp), Avx2.PermuteVar8x32(c2, index), a2);
                    a3 = Vector256.FusedMultiplyAdd(TokenPairSums<TSums>(low, high, ref x3, xp, ref k3, kp), Avx2.PermuteVar8x32(c3, index), a3);
                }
            }

            if (blocks % 2 != 0)
            {
                int b = blocks - 1;
                nuint at = (nuint)(b * Q4Block.PackedBytes);
                float s = Unsafe.Add(ref ws, b);
                a0 = Vector256.FusedMultiplyAdd(TokenBlockSums(ref row, at, x, t, b), Vector256.Create(s * Unsafe.Add(ref s0, b)), a0);
                if (two)
                {
                    a1 = Vector256.FusedMultiplyAdd(TokenBlockSums(ref row, at, x, t + 1, b), Vector256.Create(s * Unsafe.Add(ref s1, b)), a1);
                }

                if (four)
                {
                    a2 = Vector256.FusedMultiplyAdd(TokenBlockSums(ref row, at, x, t + 2, b), Vector256.Create(s * Unsafe.Add(ref s2, b)), a2);
                    a3 = Vector256.FusedMultiplyAdd(TokenBlockSums(ref row, at, x, t + 3, b), Vector256.Create(s * Unsafe.Add(ref s3, b)), a3);
                }
            }

            Store(ref yt, 0, Vector256.Sum(a0), accumulate);
            if (two)
            {
                Store(ref yt, yStride, Vector256.Sum(a1), accumulate);
            }

            if (four)
            {
                Store(ref yt, 2 * yStride, Vector256.Sum(a2), accumulate);
                Store(ref yt, 3 * yStride, Vector256.Sum(a3), accumulate);
            }
        }
    }

    /// <summary>Σ (q − 8)·x per int32 lane for two blocks of one token, from the row's unpacked nibbles, as fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> TokenPairSums<TSums>(Vector256<byte> low, Vector256<byte> high, ref sbyte xa, nuint at, ref int ko, nuint kat)
        where TSums : struct, IPairSums =>
        Avx.ConvertToVector256Single(TSums.Sums(low, Vector256.LoadUnsafe(ref xa, at), high, Vector256.LoadUnsafe(ref xa, at + 32), Vector256.LoadUnsafe(ref ko, kat)));

    /// <summary>A block of one token after the row's last whole step, as the one-token product sums it (<see cref="BlockSums"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> TokenBlockSums(ref byte row, nuint at, TokenInputs x, int token, int block) =>
        BlockSums(ref row, at, ref Unsafe.Add(ref x.ArrangedOf(token), block * Q4Block.Size), ref Unsafe.Add(ref x.OffsetsOf(token), block * OffsetsPerBlock)).ToVector256();

    /// <summary>How many tokens one pass over a row's steps sums: one accumulator each.</summary>
    private interface ITokenGroup
    {
        static abstract int Count { get; }
    }

    private readonly struct FourTokens : ITokenGroup
    {
        public static int Count => 4;
    }

    private readonly struct TwoTokens : ITokenGroup
    {
        public static int Count => 2;
    }

    private readonly struct OneToken : ITokenGroup
    {
        public static int Count => 1;
    }

    /// <summary>References into an <see cref="Int16Input"/> of several tokens' arranged 8-bit inputs, for the kernels.</summary>
    private readonly ref struct TokenInputs
    {
        private readonly ref float _scales;
        private readonly ref sbyte _arranged;
        private readonly ref int _offsets;
        private readonly int _stride;
        private readonly int _blockStride;
        private readonly int _laneStride;

        public TokenInputs(Int16Input x)
        {
            _scales = ref MemoryMarshal.GetReference(x.ArrangedScales);
            _arranged = ref MemoryMarshal.GetReference(x.Arranged);
            _offsets = ref MemoryMarshal.GetReference(x.Offsets);
            _stride = x.Stride;
            _blockStride = x.BlockStride;
            _laneStride = x.LaneStride;
            Tokens = x.Tokens;
        }

        public int Tokens { get; }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ref sbyte ArrangedOf(int token) => ref Unsafe.Add(ref _arranged, token * _stride);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ref int OffsetsOf(int token) => ref Unsafe.Add(ref _offsets, token * _laneStride);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ref float ScalesOf(int token) => ref Unsafe.Add(ref _scales, token * _blockStride);
    }
}
