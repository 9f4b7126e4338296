using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Specialized;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// The runtime's width-generic products against sums in double, at row lengths the fixture models do not have: an
/// odd number of 4-bit blocks (the last one taken alone), and fp16 rows that are not whole vectors. They run on every
/// SIMD width the test run allows (512-bit, 256-bit and no vectors in CI).
/// </summary>
public sealed unsafe class FallbackKernelTests
{
    [Theory]
    [InlineData(64)]
    [InlineData(96)] // three blocks, no whole group of eight: each alone
    [InlineData(160)] // five blocks alone
    [InlineData(768)] // 24 blocks: three groups of eight
    [InlineData(800)] // 25 blocks: three groups, then one alone
    [InlineData(1344)] // 42 blocks: five groups, then two alone
    [InlineData(16416)] // 513 blocks: wider than any released row, and than the 16384 inputs the kernels once arranged on the stack
    public void Four_bit_products_with_8_bit_inputs_match_the_dequantized_product(int cols)
    {
        const int rows = 11;
        (byte[] packed, short[] x16, float[] xScales) = RandomQ4Product(new Random(cols), rows, cols);
        fixed (byte* data = packed)
        {
            var w = new WeightMatrix(data, rows, cols, TensorDType.Q4);
            Int16Input input = Arranged(x16, xScales);
            double[] expected = DequantizedProduct(w, input, 0);

            // Rows [1, 10): two 4-row tiles and one row alone; row 0 and row 10 must stay untouched.
            float[] y = [.. Enumerable.Repeat(7f, rows)];
            Q4Kernels.MatMulInt8<NonTemporalPrefetch>(w, input, y, 1, 10, accumulate: false);
            AssertRows(expected, y, 1, 10, offset: 0, $"q4, {cols} inputs");
            Assert.Equal(7f, y[0]);
            Assert.Equal(7f, y[10]);

            Q4Kernels.MatMulInt8<TemporalPrefetch>(w, input, y, 1, 10, accumulate: true);
            AssertRows([.. expected.Select(e => 2 * e)], y, 1, 10, offset: 0, $"q4, {cols} inputs, accumulated");
        }
    }

    [Theory]
    [InlineData(64)]
    [InlineData(800)] // 25 blocks: three groups of eight, then one alone
    public void Four_bit_products_at_256_bits_sum_the_same_with_and_without_AVX_VNNI(int cols)
    {
        // The dispatch takes vpdpbusd where the processor has AVX-VNNI, so the test runs of every width would never run
        // the plain vpmaddubsw sums on such a processor: both are called here, and must agree bit for bit (the integer
        // sums are exact either way) and with the sums in double.
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            Assert.NotEqual(2, Q4Kernels.StepBlocks); // without AVX2 neither runs: the dispatch takes the scalar product
            return;
        }

        const int rows = 9;
        (byte[] packed, short[] x16, float[] xScales) = RandomQ4Product(new Random(cols + 2), rows, cols);
        fixed (byte* data = packed)
        {
            var w = new WeightMatrix(data, rows, cols, TensorDType.Q4);
            float[] madd = new float[rows];
            Int16Input input = Arranged(x16, xScales);
            Q4Kernels.MatMulInt8V256<MaddGroupSums>(w, input, madd, 0, rows);
            double[] expected = DequantizedProduct(w, input, 0);

            AssertRows(expected, madd, 0, rows, offset: 0, $"q4 at 256 bits with vpmaddubsw, {cols} inputs");
            if (!System.Runtime.Intrinsics.X86.AvxVnni.IsSupported)
            {
                return; // this processor has only the plain sums, which were just checked
            }

            float[] vnni = new float[rows];
            Q4Kernels.MatMulInt8V256<VnniGroupSums>(w, input, vnni, 0, rows);
            for (int r = 0; r < rows; r++)
            {
                Assert.True(
                    BitConverter.SingleToInt32Bits(madd[r]) == BitConverter.SingleToInt32Bits(vnni[r]),
                    $"row {r} of {cols} inputs: {madd[r]:R} with vpmaddubsw, {vnni[r]:R} with vpdpbusd");
            }
        }
    }

    [Theory]
    [InlineData(64, 2)]
    [InlineData(96, 3)] // three blocks, each alone; one group of tokens with its last token repeated
    [InlineData(160, 5)] // five blocks alone; a group of four tokens and a token alone
    [InlineData(800, 9)] // 25 blocks: three groups of eight, then one alone
    [InlineData(1344, 16)] // 42 blocks: five groups, then two alone
    [InlineData(928, 12)] // 29 blocks: three groups, then five alone; three groups of four tokens
    [InlineData(3072, 9)] // rows in chunks of 8 (a group's inputs fill most of L1): two groups of four and one token over each chunk
    public void Four_bit_products_of_several_tokens_give_each_token_the_bits_of_its_own_product(int cols, int tokens)
    {
        // Batches and short prompts multiply several tokens' 8-bit inputs at once, unpacking each row once for a group
        // of tokens. Every (row, token) must come out as the one-token product makes it, bit for bit, so that a session's
        // logits do not depend on the batch it runs in, on every SIMD width.
        const int rows = 11;
        var rng = new Random(cols + tokens);
        (byte[] packed, _, _) = RandomQ4Product(rng, rows, cols);
        float[] x = [.. Enumerable.Range(0, tokens).SelectMany(_ => RandomRow(rng, cols))];
        var batch = new Int16Input(cols, tokens, tokens);
        batch.Round(x, tokens, arrange: true);
        var one = new Int16Input(cols);
        fixed (byte* data = packed)
        {
            var w = new WeightMatrix(data, rows, cols, TensorDType.Q4);
            const int stride = rows + 3;
            float[] y = [.. Enumerable.Repeat(7f, tokens * stride)];
            Q4Kernels.MatMulInt8<NonTemporalPrefetch>(w, batch, y, stride, 1, 10, accumulate: false);
            float[] accumulated = [.. y];
            Q4Kernels.MatMulInt8<TemporalPrefetch>(w, batch, accumulated, stride, 1, 10, accumulate: true);
            for (int t = 0; t < tokens; t++)
            {
                one.Round(x.AsSpan(t * cols, cols), arrange: true);
                float[] alone = new float[rows];
                Q4Kernels.MatMulInt8<TemporalPrefetch>(w, one, alone, 1, 10, accumulate: false);
                for (int r = 1; r < 10; r++)
                {
                    float got = y[(t * stride) + r];
                    Assert.True(
                        BitConverter.SingleToInt32Bits(got) == BitConverter.SingleToInt32Bits(alone[r]),
                        $"token {t} of {tokens}, row {r}, {cols} inputs: {got:R} with the others, {alone[r]:R} alone");
                    Assert.Equal(alone[r] + alone[r], accumulated[(t * stride) + r]);
                }

                foreach (int untouched in new[] { 0, 10, 11, 12, 13 })
                {
                    Assert.Equal(7f, y[(t * stride) + untouched]);
                }
            }

            AssertRows(DequantizedProduct(w, one, 0), y, 1, 10, offset: (tokens - 1) * stride, $"q4, {tokens} tokens, {cols} inputs, the last token");
        }
    }

    [Fact]
    public void Four_bit_products_of_several_tokens_at_256_bits_sum_the_same_with_and_without_AVX_VNNI()
    {
        if (!System.Runtime.Intrinsics.X86.AvxVnni.IsSupported)
        {
            return; // the dispatch runs the plain sums at 256 bits here, which the test above checks when this run is 256-bit
        }

        const int rows = 6, cols = 800, tokens = 3;
        var rng = new Random(17);
        (byte[] packed, _, _) = RandomQ4Product(rng, rows, cols);
        var input = new Int16Input(cols, 1, tokens);
        input.Round([.. Enumerable.Range(0, tokens).SelectMany(_ => RandomRow(rng, cols))], tokens, arrange: false);
        fixed (byte* data = packed)
        {
            var w = new WeightMatrix(data, rows, cols, TensorDType.Q4);
            float[] madd = new float[tokens * rows], vnni = new float[tokens * rows];
            Q4Kernels.MatMulTokensV256<MaddGroupSums>(w, input, madd, rows);
            Q4Kernels.MatMulTokensV256<VnniGroupSums>(w, input, vnni, rows);
            for (int i = 0; i < madd.Length; i++)
            {
                Assert.True(
                    BitConverter.SingleToInt32Bits(madd[i]) == BitConverter.SingleToInt32Bits(vnni[i]),
                    $"token {i / rows}, row {i % rows}: {madd[i]:R} with vpmaddubsw, {vnni[i]:R} with vpdpbusd");
            }

            for (int t = 0; t < tokens; t++)
            {
                double[] expected = DequantizedProduct(w, input, t);
                AssertRows(expected, madd, 0, rows, offset: t * rows, $"q4 at 256 bits, token {t}");
            }
        }
    }

    [Fact]
    public void Sixteen_bit_inputs_serve_one_token_batches_of_4_bit_weights_and_short_4_bit_sequences()
    {
        var q4 = new WeightMatrix((byte*)0, 4, 64, TensorDType.Q4);
        var q8 = new WeightMatrix((byte*)0, 4, 64, TensorDType.Q8);
        var bf16 = new WeightMatrix((byte*)0, 4, 64, TensorDType.BF16);
        const int sequence = 8;
        Assert.True(Products<Rwkv7.Gen.Tests.Generated.TinyModel.Kernels>.UsesInt16Inputs(q4, 1, chained: true, sequence));
        Assert.True(Products<Rwkv7.Gen.Tests.Generated.TinyModel.Kernels>.UsesInt16Inputs(q8, 1, chained: true, sequence));
        Assert.False(Products<Rwkv7.Gen.Tests.Generated.TinyModel.Kernels>.UsesInt16Inputs(bf16, 1, chained: true, sequence));
        Assert.True(Products<Rwkv7.Gen.Tests.Generated.TinyModel.Kernels>.UsesInt16Inputs(q4, 64, chained: false, sequence)); // a batch, any size
        Assert.False(Products<Rwkv7.Gen.Tests.Generated.TinyModel.Kernels>.UsesInt16Inputs(q8, 2, chained: false, sequence));
        Assert.True(Products<Rwkv7.Gen.Tests.Generated.TinyModel.Kernels>.UsesInt16Inputs(q4, 8, chained: true, sequence)); // a short prompt
        Assert.False(Products<Rwkv7.Gen.Tests.Generated.TinyModel.Kernels>.UsesInt16Inputs(q4, 9, chained: true, sequence));
        Assert.False(Products<Rwkv7.Gen.Tests.Generated.TinyModel.Kernels>.UsesInt16Inputs(q4, 2, chained: true, sequenceTokens: 0));

        int expected = Q4Kernels.StepBlocks switch { 4 or 2 => 64, _ => 0 };
        Assert.Equal(expected, Products<Rwkv7.Gen.Tests.Generated.TinyModel.Kernels>.Int16SequenceTokens(CpuTuning.Default));

        // An 8-bit product given several tokens' inputs refuses them rather than computing the first token alone.
        var two = new Int16Input(64, 1, 2);
        two.Round(new float[128], 2, arrange: false);
        ArgumentException e = Assert.Throws<ArgumentException>(
            () => Products<Rwkv7.Gen.Tests.Generated.TinyModel.Kernels>.Int16Product<TemporalPrefetch>(q8, two, new float[8], 4, 0, 4, accumulate: false));
        Assert.Contains("2 tokens reach only 4-bit products", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Four_bit_products_refuse_inputs_that_were_not_arranged()
    {
        const int rows = 4, cols = 64;
        (byte[] packed, short[] x16, float[] xScales) = RandomQ4Product(new Random(5), rows, cols);
        var input = new Int16Input(cols);
        input.Set(x16, xScales, arrange: false);
        fixed (byte* data = packed)
        {
            var w = new WeightMatrix(data, rows, cols, TensorDType.Q4);
            float[] y = new float[rows];
            ArgumentException e = Assert.Throws<ArgumentException>(() => Q4Kernels.MatMulInt8<TemporalPrefetch>(w, input, y, 0, rows, accumulate: false));
            Assert.Contains("arranged", e.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(64)]
    [InlineData(160)]
    [InlineData(800)]
    public void Four_bit_products_give_a_row_the_same_bits_whichever_rows_a_call_covers(int cols)
    {
        // The vector products take four rows at a time and run the rows after the last tile through the same tile,
        // so a row's sum does not depend on where a call's (or a thread's part's) rows start and end: one call over
        // every row and one call per row must agree bit for bit, on every SIMD width.
        const int rows = 9;
        (byte[] packed, short[] x16, float[] xScales) = RandomQ4Product(new Random(cols + 1), rows, cols);
        fixed (byte* data = packed)
        {
            var w = new WeightMatrix(data, rows, cols, TensorDType.Q4);
            float[] tiled = new float[rows], alone = new float[rows];
            Int16Input input = Arranged(x16, xScales);
            Q4Kernels.MatMulInt8<TemporalPrefetch>(w, input, tiled, 0, rows, accumulate: false);
            for (int r = 0; r < rows; r++)
            {
                Q4Kernels.MatMulInt8<TemporalPrefetch>(w, input, alone, r, r + 1, accumulate: false);
            }

            for (int r = 0; r < rows; r++)
            {
                Assert.True(
                    BitConverter.SingleToInt32Bits(tiled[r]) == BitConverter.SingleToInt32Bits(alone[r]),
                    $"row {r} of {cols} inputs: {tiled[r]:R} in a call over all rows, {alone[r]:R} alone");
            }
        }
    }

    [Theory]
    [InlineData(1, 40)]
    [InlineData(4, 40)]
    [InlineData(9, 40)] // two 4-token tiles and one token alone
    [InlineData(1, 768)] // one token: rows widened in registers, four at a time, then one by one
    [InlineData(1, 48)] // one token, a 512-bit step and a 256-bit one's worth of columns
    public void Fp16_products_of_rows_that_are_not_whole_vectors_match_the_sums(int tokens, int cols)
    {
        const int rows = 7;
        var rng = new Random(tokens);
        Half[] values = [.. RandomRow(rng, rows * cols).Select(v => (Half)v)];
        float[] x = RandomRow(rng, tokens * cols);
        const int yStride = rows + 3;
        fixed (Half* data = values)
        {
            var w = new WeightMatrix((byte*)data, rows, cols, TensorDType.F16);
            float[] y = new float[tokens * yStride];
            KernelFallbacks.MatMul(w, x, y, tokens, yStride, 0, rows, accumulate: false);
            for (int t = 0; t < tokens; t++)
            {
                double[] expected = new double[rows];
                for (int r = 0; r < rows; r++)
                {
                    for (int c = 0; c < cols; c++)
                    {
                        expected[r] += (double)values[(r * cols) + c] * x[(t * cols) + c];
                    }
                }

                AssertRows(expected, y, 0, rows, t * yStride, $"fp16, token {t} of {tokens}");
                if (tokens == 1)
                {
                    // Rows [2, 7) added again: one group of four and one row alone, from a row that is not the first.
                    float[] before = [.. y];
                    KernelFallbacks.MatMul(w, x, y, tokens, yStride, 2, rows, accumulate: true);
                    AssertRows([.. expected.Select(e => 2 * e)], y, 2, rows, 0, "fp16, rows 2–6 accumulated");
                    Assert.Equal(before[0], y[0]);
                    Assert.Equal(before[1], y[1]);
                }
            }
        }
    }

    private static float[] RandomRow(Random rng, int n) => [.. Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2) - 1))];

    /// <summary>
    /// W·x in double for token <paramref name="token"/> of <paramref name="input"/>, from the dequantized 4-bit rows and
    /// the 8-bit inputs the products read (read back from their arrangement) times their block scales.
    /// </summary>
    private static double[] DequantizedProduct(in WeightMatrix w, Int16Input input, int token)
    {
        sbyte[] x8 = new sbyte[w.Cols];
        float[] xScales = new float[w.Cols / 32];
        input.ReadArranged(token, x8, xScales);
        double[] expected = new double[w.Rows];
        float[] dequantized = new float[w.Cols];
        for (int r = 0; r < w.Rows; r++)
        {
            w.ReadRow(r, dequantized);
            for (int c = 0; c < w.Cols; c++)
            {
                expected[r] += (double)dequantized[c] * x8[c] * xScales[c / 32];
            }
        }

        return expected;
    }

    private static Int16Input Arranged(short[] x16, float[] xScales)
    {
        var input = new Int16Input(x16.Length);
        input.Set(x16, xScales, arrange: true);
        return input;
    }

    /// <summary>Random 4-bit rows (quantized as at load) and a random input rounded to 16 bits, for the 4-bit products.</summary>
    private static (byte[] Packed, short[] X16, float[] XScales) RandomQ4Product(Random rng, int rows, int cols)
    {
        int stride = Q4Block.RowBytes(cols);
        byte[] packed = new byte[rows * stride];
        for (int r = 0; r < rows; r++)
        {
            float[] row = RandomRow(rng, cols);
            Q4Quantizer.QuantizeRow(row, packed.AsSpan(r * stride, cols / 2), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(packed.AsSpan((r * stride) + (cols / 2), cols / 8)));
        }

        float[] x = RandomRow(rng, cols);
        short[] x16 = new short[cols];
        float[] xScales = new float[cols / 32];
        Int16Activations.Quantize(x, x16, xScales);
        return (packed, x16, xScales);
    }

    private static void AssertRows(double[] expected, float[] y, int start, int end, int offset, string what)
    {
        double scale = expected.Skip(start).Take(end - start).Max(Math.Abs);
        for (int r = start; r < end; r++)
        {
            Assert.True(Math.Abs(expected[r] - y[offset + r]) <= 1e-5 * scale, $"{what}, row {r}: {y[offset + r]} against {expected[r]}");
        }
    }
}
