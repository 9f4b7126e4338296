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
    /// tokens: fours, then a two, then a one; each group of tokens sums every group of eight blocks of a row as the
    /// one-token product sums it (<see cref="MatMulInt8V512{TPrefetch}"/>: the same operations on the same values in the
    /// same order), with the row's nibbles unpacked once per group of blocks and of tokens and the token's scale
    /// products in place of the row's.
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
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, groups = blocks / Q4Block.GroupBlocks;
        bool two = TGroup.Count >= 2, four = TGroup.Count == 4;
        nuint fetch = (nuint)(Prefetch.TilesAhead(TPrefetch.AheadBytes, stride) * stride);
        Vector512<byte> nibble = Vector512.Create((byte)0xF);
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
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (int g = 0; g < groups; g++)
            {
                // The row's nibbles unpacked once for the group of tokens; each token's sums as the one-token product's.
                Vector512<byte> b0 = Vector512.LoadUnsafe(ref row, (nuint)(g * Q4Block.GroupBytes)), b1 = Vector512.LoadUnsafe(ref row, (nuint)((g * Q4Block.GroupBytes) + 64));
                Vector512<byte> l0 = b0 & nibble, h0 = (b0.AsUInt16() >>> 4).AsByte() & nibble, l1 = b1 & nibble, h1 = (b1.AsUInt16() >>> 4).AsByte() & nibble;
                nuint b = (nuint)(g * Q4Block.GroupBlocks), xg = b * Q4Block.Size, kg = b * OffsetsPerBlock;
                Vector256<float> wsg = Vector256.LoadUnsafe(ref ws, b);
                a0 = Vector256.FusedMultiplyAdd(TokenGroupSums512(l0, h0, l1, h1, ref x0, xg, ref k0, kg), wsg * Vector256.LoadUnsafe(ref s0, b), a0);
                if (two)
                {
                    a1 = Vector256.FusedMultiplyAdd(TokenGroupSums512(l0, h0, l1, h1, ref x1, xg, ref k1, kg), wsg * Vector256.LoadUnsafe(ref s1, b), a1);
                }

                if (four)
                {
                    a2 = Vector256.FusedMultiplyAdd(TokenGroupSums512(l0, h0, l1, h1, ref x2, xg, ref k2, kg), wsg * Vector256.LoadUnsafe(ref s2, b), a2);
                    a3 = Vector256.FusedMultiplyAdd(TokenGroupSums512(l0, h0, l1, h1, ref x3, xg, ref k3, kg), wsg * Vector256.LoadUnsafe(ref s3, b), a3);
                }
            }

            TokenTail(ref row, x, t, two, four, groups * Q4Block.GroupBlocks, blocks, ref ws, ref s0, ref s1, ref s2, ref s3, ref a0, ref a1, ref a2, ref a3);
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

    /// <summary>One token's <see cref="GroupSums512(Vector512{byte}, Vector512{byte}, Vector512{byte}, Vector512{byte}, Vector512{sbyte}, Vector512{sbyte}, Vector512{sbyte}, Vector512{sbyte}, Vector256{int})"/> from its arranged inputs at <paramref name="at"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> TokenGroupSums512(Vector512<byte> l0, Vector512<byte> h0, Vector512<byte> l1, Vector512<byte> h1, ref sbyte xa, nuint at, ref int ko, nuint kat) =>
        GroupSums512(
            l0, h0, l1, h1, Vector512.LoadUnsafe(ref xa, at), Vector512.LoadUnsafe(ref xa, at + 64), Vector512.LoadUnsafe(ref xa, at + 128), Vector512.LoadUnsafe(ref xa, at + 192),
            Vector256.LoadUnsafe(ref ko, kat));

    /// <summary>
    /// The blocks [<paramref name="from"/>, <paramref name="blocks"/>) after a row's last whole group, for the group of
    /// tokens from <paramref name="t"/>, as the one-token products sum them (<see cref="BlockSums"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TokenTail(
        ref byte row, TokenInputs x, int t, bool two, bool four, int from, int blocks, ref float ws, ref float s0, ref float s1, ref float s2, ref float s3,
        ref Vector256<float> a0, ref Vector256<float> a1, ref Vector256<float> a2, ref Vector256<float> a3)
    {
        for (int b = from; b < blocks; b++)
        {
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
    }

    /// <summary>
    /// 256 bits, as <see cref="MatMulTokensV512{TPrefetch}"/> over the one-token 256-bit product's groups of eight
    /// blocks (<see cref="MatMulInt8V256{TPrefetch, TSums}"/>), with its sums (<typeparamref name="TSums"/>:
    /// <c>vpdpbusd</c> where AVX-VNNI is present).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulTokensV256<TPrefetch, TSums>(ref byte w, int n, TokenInputs x, ref float y, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
        where TSums : struct, IGroupSums
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
    /// <see cref="TokenPassV512{TPrefetch, TGroup}"/>: per load of a group the row's nibbles unpacked once, then added
    /// into each token's chain.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void TokenPassV256<TPrefetch, TSums, TGroup>(ref byte w, int n, TokenInputs x, int first, ref float y, int yStride, int rowStart, int rowEnd, bool accumulate)
        where TPrefetch : struct, IWeightPrefetch
        where TSums : struct, IGroupSums
        where TGroup : struct, ITokenGroup
    {
        int stride = Q4Block.RowBytes(n), blocks = n / Q4Block.Size, groups = blocks / Q4Block.GroupBlocks;
        bool two = TGroup.Count >= 2, four = TGroup.Count == 4;
        nuint fetch = (nuint)(Prefetch.TilesAhead(TPrefetch.AheadBytes, stride) * stride);
        Vector256<byte> nibble = Vector256.Create((byte)0xF);
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
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (int g = 0; g < groups; g++)
            {
                nuint b = (nuint)(g * Q4Block.GroupBlocks), kg = b * OffsetsPerBlock;
                Vector256<int> k0g = Vector256.LoadUnsafe(ref k0, kg), k1g = two ? Vector256.LoadUnsafe(ref k1, kg) : default;
                Vector256<int> k2g = four ? Vector256.LoadUnsafe(ref k2, kg) : default, k3g = four ? Vector256.LoadUnsafe(ref k3, kg) : default;
                Vector256<int> e0 = TSums.Start(k0g), e1 = two ? TSums.Start(k1g) : default, e2 = four ? TSums.Start(k2g) : default, e3 = four ? TSums.Start(k3g) : default;
                for (int c = 0; c < 4; c++)
                {
                    Vector256<byte> bytes = Vector256.LoadUnsafe(ref row, (nuint)((g * Q4Block.GroupBytes) + (32 * c)));
                    Vector256<byte> low = bytes & nibble, high = (bytes.AsUInt16() >>> 4).AsByte() & nibble;
                    nuint xc = (b * Q4Block.Size) + (nuint)(64 * c);
                    e0 = TSums.Add(e0, low, Vector256.LoadUnsafe(ref x0, xc), high, Vector256.LoadUnsafe(ref x0, xc + 32));
                    if (two)
                    {
                        e1 = TSums.Add(e1, low, Vector256.LoadUnsafe(ref x1, xc), high, Vector256.LoadUnsafe(ref x1, xc + 32));
                    }

                    if (four)
                    {
                        e2 = TSums.Add(e2, low, Vector256.LoadUnsafe(ref x2, xc), high, Vector256.LoadUnsafe(ref x2, xc + 32));
                        e3 = TSums.Add(e3, low, Vector256.LoadUnsafe(ref x3, xc), high, Vector256.LoadUnsafe(ref x3, xc + 32));
                    }
                }

                Vector256<float> wsg = Vector256.LoadUnsafe(ref ws, b);
                a0 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TSums.Finish(e0, k0g)), wsg * Vector256.LoadUnsafe(ref s0, b), a0);
                if (two)
                {
                    a1 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TSums.Finish(e1, k1g)), wsg * Vector256.LoadUnsafe(ref s1, b), a1);
                }

                if (four)
                {
                    a2 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TSums.Finish(e2, k2g)), wsg * Vector256.LoadUnsafe(ref s2, b), a2);
                    a3 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TSums.Finish(e3, k3g)), wsg * Vector256.LoadUnsafe(ref s3, b), a3);
                }
            }

            TokenTail(ref row, x, t, two, four, groups * Q4Block.GroupBlocks, blocks, ref ws, ref s0, ref s1, ref s2, ref s3, ref a0, ref a1, ref a2, ref a3);
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

    /// <summary>A block of one token after the row's last whole group, as the one-token product sums it (<see cref="BlockSums"/>).</summary>
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
