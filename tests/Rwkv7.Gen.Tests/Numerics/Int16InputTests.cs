using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Specialized;
using Rwkv7.Gen.Tests.Generated;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// 8-bit decode rounds each product's input row to 16 bits per block of 32 (<see cref="Int16Activations"/>) and sums
/// int8 × int16 pairs in integers. The rounding is checked against its definition and its error bound, and every
/// generated width of the product (512-bit, 256-bit, and the fp32 path the others restore the inputs for; CI reruns
/// this namespace with each disabled) against the exact sum of its blocks.
/// </summary>
public sealed class Int16InputTests
{
    [Fact]
    public unsafe void Buffers_start_on_64_byte_lines_and_stay_there_when_they_grow()
    {
        // The kernels load the inputs a vector at a time; a load that straddles two lines costs a second one.
        var input = new Int16Input(3072, 1, 16);
        for (int pass = 0; pass < 2; pass++)
        {
            Assert.Equal(0, (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(input.Values)) % 64);
            Assert.Equal(0, (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(input.Scales)) % 64);
            Assert.Equal(0, (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(input.Arranged)) % 64);
            Assert.Equal(0, (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(input.Offsets)) % 64);

            // Sixteen tokens: the buffers grow once.
            float[] x = [.. Enumerable.Range(0, 16 * 3072).Select(i => (float)Math.Sin(i))];
            input.Round(x, 16, arrange: true);
            Assert.Equal(16 * 3072, input.Values.Length);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rows_rounded_in_parts_on_several_threads_equal_rows_rounded_at_once(bool arrange)
    {
        // A prompt's or a batch's inputs are rounded by several threads, each a range of rows (ModelStep.InputRounding).
        const int Tokens = 7, Width = 768;
        float[] x = [.. Enumerable.Range(0, Tokens * Width).Select(i => (float)(Math.Sin(i * 0.37) * (1 + (i % 97))))];
        var whole = new Int16Input(Width, 1, Tokens);
        whole.Round(x, Tokens, arrange);

        var parts = new Int16Input(Width, 1, Tokens);
        parts.Prepare(x.Length, Tokens, arrange);
        Assert.Equal(arrange, parts.IsArranged);
        Parallel.Invoke(() => parts.RoundRows(x, 5, Tokens), () => parts.RoundRows(x, 0, 2), () => parts.RoundRows(x, 2, 5));

        Assert.Equal((Tokens, Width), (parts.Tokens, parts.Length));
        Assert.True(whole.Values[..(Tokens * Width)].SequenceEqual(parts.Values[..(Tokens * Width)]));
        Assert.True(whole.Scales[..(Tokens * whole.BlockStride)].SequenceEqual(parts.Scales[..(Tokens * parts.BlockStride)]));
        if (arrange)
        {
            Assert.True(whole.Arranged[..(Tokens * Width)].SequenceEqual(parts.Arranged[..(Tokens * Width)]));
            Assert.True(whole.ArrangedScales[..(Tokens * whole.BlockStride)].SequenceEqual(parts.ArrangedScales[..(Tokens * parts.BlockStride)]));
            Assert.True(whole.Offsets[..(Tokens * whole.LaneStride)].SequenceEqual(parts.Offsets[..(Tokens * parts.LaneStride)]));
        }

        // Rows outside what was prepared, or inputs of another length, are refused by name.
        ArgumentException e = Assert.Throws<ArgumentException>(() => parts.RoundRows(x, 6, Tokens + 1));
        Assert.Contains("Rows [6, 8) of 7 prepared rows of 768 inputs", e.Message);
        Assert.Throws<ArgumentException>(() => parts.RoundRows(x.AsSpan(0, Width).ToArray(), 0, 1));
        Assert.Throws<ArgumentException>(() => parts.Prepare(Tokens * Width, Tokens + 1, arrange));
    }

    [Fact]
    public void Rounding_keeps_every_input_within_half_a_step_of_its_block()
    {
        float[] x = RandomRow(256, seed: 3);
        x[70] = 0;
        x[100] = 1e-30f; // tiny next to its block's largest value: rounds to 0
        x[200] = -40f;   // a block's largest magnitude is negative: it maps to -32767
        short[] q = new short[x.Length];
        float[] scales = new float[x.Length / 32];
        Int16Activations.Quantize(x, q, scales);

        for (int i = 0; i < x.Length; i++)
        {
            float restored = q[i] * scales[i / 32];
            Assert.True(Math.Abs(x[i] - restored) <= (scales[i / 32] * 0.5f) + (Math.Abs(x[i]) * 1e-6f), $"input {i}: {x[i]} → {q[i]} × {scales[i / 32]} = {restored}");
        }

        for (int b = 0; b < scales.Length; b++)
        {
            float max = x.AsSpan(b * 32, 32).ToArray().Max(Math.Abs);
            Assert.Equal(max / Int16Activations.MaxQuant, scales[b]);
            Assert.Contains(q.AsSpan(b * 32, 32).ToArray(), v => Math.Abs((int)v) == Int16Activations.MaxQuant);
        }

        Assert.Equal(0, q[100]);
        Assert.Equal(-Int16Activations.MaxQuant, q[200]);
    }

    [Fact]
    public void Rounding_is_round_half_to_even_of_the_input_times_the_inverse_scale()
    {
        // The vector path must produce exactly what the scalar definition does, so every SIMD width decodes alike.
        float[] x = RandomRow(1024, seed: 9);
        short[] q = new short[x.Length];
        float[] scales = new float[x.Length / 32];
        Int16Activations.Quantize(x, q, scales);
        for (int b = 0; b < scales.Length; b++)
        {
            float max = 0;
            for (int i = b * 32; i < (b + 1) * 32; i++)
            {
                max = MathF.Max(max, MathF.Abs(x[i]));
            }

            float inverse = Int16Activations.MaxQuant / max;
            for (int i = b * 32; i < (b + 1) * 32; i++)
            {
                Assert.Equal((short)MathF.Round(x[i] * inverse), q[i]);
            }
        }
    }

    [Fact]
    public void Zero_blocks_get_a_zero_scale_and_non_finite_inputs_a_non_finite_one()
    {
        float[] x = new float[96];
        x[40] = float.NaN;
        x[70] = float.PositiveInfinity;
        x[71] = 2;
        short[] q = new short[96];
        float[] scales = new float[3];
        Int16Activations.Quantize(x, q, scales);

        Assert.Equal(0f, scales[0]);
        Assert.All(q.AsSpan(0, 32).ToArray(), v => Assert.Equal(0, v));
        Assert.True(float.IsNaN(scales[1]), $"a block with NaN has scale {scales[1]}");
        Assert.True(float.IsPositiveInfinity(scales[2]), $"a block with +inf has scale {scales[2]}");

        // Wherever in its block a NaN sits (vector maxima can drop a NaN depending on operand order).
        for (int at = 0; at < 32; at++)
        {
            float[] row = RandomRow(32, seed: at);
            row[at] = float.NaN;
            Int16Activations.Quantize(row, q, scales);
            Assert.True(float.IsNaN(scales[0]), $"NaN at {at}: scale {scales[0]}");
        }
    }

    [Theory]
    [InlineData(1)] // the scalar product's plain order
    [InlineData(2)] // 256 bits
    [InlineData(4)] // 512 bits
    public void Four_bit_products_round_the_16_bit_inputs_again_to_8_bits_and_arrange_them_for_their_width(int stepBlocks)
    {
        // 4-bit products read 8-bit inputs (Q4Kernels.ArrangeSteps): per block q8 = round-half-to-even(q16 · (127 / m)),
        // m the block's largest |q16|, and scale8 = scale16 · m / 127, so each input stays within half an 8-bit step of
        // its 16-bit value; lane offsets are −8 · the sum of the values each int32 lane takes. The arrangement differs by
        // width, the values and offsets it holds do not: read back, they are the definition's at every width.
        float[] x = RandomRow(320, seed: 21); // ten blocks: a whole group of eight and two blocks alone
        x.AsSpan(64, 32).Clear();              // block 2: zeros
        x[100] = 1e-30f;                       // rounds to 0 in 16 bits already
        x[200] = -40f;                         // block 6's largest magnitude is negative: −32767, then −127
        var input = new Int16Input(x.Length);
        input.Round(x, arrange: true);
        input.ArrangeFor(stepBlocks);
        sbyte[] q8 = new sbyte[x.Length];
        float[] scales8 = new float[x.Length / 32];
        input.ReadArranged(0, q8, scales8);

        for (int b = 0; b < scales8.Length; b++)
        {
            ReadOnlySpan<short> q16 = input.Values.Slice(b * 32, 32);
            int m = 0;
            foreach (short v in q16)
            {
                m = Math.Max(m, Math.Abs((int)v));
            }

            float factor = m > 0 ? 127f / m : 0;
            Assert.Equal(input.Scales[b] * (m / 127f), scales8[b]);
            for (int i = 0; i < 32; i++)
            {
                sbyte got = q8[(b * 32) + i];
                Assert.Equal((sbyte)MathF.Round(q16[i] * factor), got);
                double error = Math.Abs((got * (double)scales8[b]) - (q16[i] * (double)input.Scales[b]));
                Assert.True(error <= (scales8[b] * 0.5) + (scales8[b] * 1e-6), $"block {b}, input {i}: {q16[i]} × {input.Scales[b]} → {got} × {scales8[b]}");
            }

            if (m > 0)
            {
                Assert.Contains(q8.AsSpan(b * 32, 32).ToArray(), v => Math.Abs((int)v) == 127);
            }

        }

        AssertOffsets(input.Offsets, q8, stepBlocks);

        Assert.Equal(0f, scales8[2]);
        Assert.All(q8.AsSpan(64, 32).ToArray(), v => Assert.Equal(0, v));
        Assert.Equal(-127, q8[200]);

        // A non-finite input gives its block a non-finite 8-bit scale, as it does the 16-bit one.
        x[300] = float.NaN;
        input.Round(x, arrange: true);
        input.ReadArranged(0, q8, scales8);
        Assert.True(float.IsNaN(scales8[9]));
    }

    /// <summary>
    /// The offsets the 4-bit products add, −8 · the sum of the 8-bit inputs each int32 lane takes: in a group of eight
    /// blocks (vector arrangements only) one lane per block, a group's eight offsets at 4g for its first block g;
    /// after the last whole group, and in the plain order, four lanes per block (lane i: values 4i…4i + 3 and
    /// 16 + 4i…16 + 4i + 3).
    /// </summary>
    private static void AssertOffsets(ReadOnlySpan<int> offsets, sbyte[] q8, int stepBlocks)
    {
        int blocks = q8.Length / 32, grouped = stepBlocks >= 2 ? blocks / 8 * 8 : 0;
        for (int b = 0; b < blocks; b++)
        {
            if (b < grouped)
            {
                int sum = 0;
                for (int i = b * 32; i < (b + 1) * 32; i++)
                {
                    sum += q8[i];
                }

                int group = b / 8 * 8;
                Assert.Equal(-8 * sum, offsets[(4 * group) + (b - group)]);
                continue;
            }

            for (int lane = 0; lane < Q4Kernels.OffsetsPerBlock; lane++)
            {
                int sum = 0;
                for (int j = 4 * lane; j < (4 * lane) + 4; j++)
                {
                    sum += q8[(b * 32) + j] + q8[(b * 32) + 16 + j];
                }

                Assert.Equal(-8 * sum, offsets[(b * Q4Kernels.OffsetsPerBlock) + lane]);
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void The_vector_roundings_give_the_definitions_bits_over_every_magnitude(int stepBlocks)
    {
        // Change 60 rewrote both roundings' vector forms (vcvtps2dq, integer maxima, packs): over blocks from 1e-30 to
        // 1e30, with zeros and a largest magnitude anywhere, every 16-bit value and scale must be the definition's
        // (q16 = round-half-to-even(x · (32767 / max)), scale = max / 32767) and every 8-bit value, scale and offset
        // too (q8 = round-half-to-even(q16 · (127 / m)), m the largest |q16|), at every arrangement.
        for (int seed = 0; seed < 40; seed++)
        {
            var rng = new Random(seed);
            float[] x = RandomRow(32 * 11, seed);
            for (int b = 0; b < 11; b++)
            {
                float magnitude = (float)Math.Pow(10, rng.Next(-30, 30));
                for (int i = b * 32; i < (b + 1) * 32; i++)
                {
                    x[i] *= magnitude;
                }
            }

            x.AsSpan(32 * (seed % 11), 32).Clear();
            x[(32 * ((seed + 3) % 11)) + (seed % 32)] = 0.5f;  // a block whose largest magnitude sits anywhere
            int n = x.Length, blocks = n / 32;
            short[] values = new short[n];
            float[] scales = new float[blocks], arrangedScales = new float[blocks];
            sbyte[] arranged = new sbyte[n], q8 = new sbyte[n];
            int[] offsets = new int[blocks * Q4Kernels.OffsetsPerBlock];
            Int16Activations.Quantize(x, values, scales);
            Q4Kernels.ArrangeSteps(values, scales, arranged, arrangedScales, offsets, stepBlocks);
            Q4Kernels.ReadArranged(arranged, stepBlocks, q8);

            for (int b = 0; b < blocks; b++)
            {
                float max = 0;
                for (int i = b * 32; i < (b + 1) * 32; i++)
                {
                    max = MathF.Max(max, MathF.Abs(x[i]));
                }

                float inverse = max > 0 ? Int16Activations.MaxQuant / max : 0;
                Assert.Equal(max / Int16Activations.MaxQuant, scales[b]);
                int m = 0;
                for (int i = b * 32; i < (b + 1) * 32; i++)
                {
                    Assert.Equal((short)MathF.Round(x[i] * inverse), values[i]);
                    m = Math.Max(m, Math.Abs((int)values[i]));
                }

                float factor = m > 0 ? 127f / m : 0;
                Assert.Equal(scales[b] * (m / 127f), arrangedScales[b]);
                for (int i = b * 32; i < (b + 1) * 32; i++)
                {
                    Assert.Equal((sbyte)MathF.Round(values[i] * factor), q8[i]);
                }
            }

            AssertOffsets(offsets, q8, stepBlocks);
        }

        // A NaN gives its block non-finite scales through both roundings.
        float[] bad = RandomRow(64, seed: 5);
        bad[40] = float.NaN;
        float[] s16 = new float[2], s8 = new float[2];
        short[] v16 = new short[64];
        Int16Activations.Quantize(bad, v16, s16);
        Q4Kernels.ArrangeSteps(v16, s16, new sbyte[64], s8, new int[8], stepBlocks);
        Assert.True(float.IsNaN(s16[1]) && float.IsNaN(s8[1]), $"{s16[1]}, {s8[1]}");
        Assert.True(float.IsFinite(s16[0]) && float.IsFinite(s8[0]));
    }

    [Fact]
    public void Rows_that_are_not_whole_blocks_or_too_small_buffers_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Int16Activations.Quantize(new float[40], new short[40], new float[2]));
        Assert.Throws<ArgumentException>(() => Int16Activations.Quantize(new float[64], new short[32], new float[2]));
        Assert.Throws<ArgumentException>(() => Int16Activations.Quantize(new float[64], new short[64], new float[1]));

        // Values already rounded come within ±32767, as the rounding makes them: −32768 has no magnitude in 16 bits.
        short[] values = new short[64];
        values[37] = short.MinValue;
        ArgumentException e = Assert.Throws<ArgumentException>(() => new Int16Input(64).Set(values, new float[2], arrange: true));
        Assert.Contains("input 37 is -32768", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ffn.key", 0, 1024)]   // 256 inputs (the embedding), full tiles
    [InlineData("ffn.key", 5, 1018)]   // a range that starts and ends off a 4-row tile
    [InlineData("ffn.value", 0, 256)]  // 1,024 inputs (the FFN)
    [InlineData("ffn.value", 3, 250)]
    [InlineData("head", 1, 511)]
    [InlineData("gate.up", 0, 256)]    // 64 inputs (the gate LoRA's rank): its second factor in one-token steps
    [InlineData("gate.up", 2, 253)]
    public void Generated_product_equals_the_exact_sum_of_its_blocks(string matrix, int rowStart, int rowEnd)
    {
        ModelShape shape = Mh4Model.DeclaredShape;
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(shape, TensorDType.Q8, seed: 21);
        WeightMatrix w = matrix switch
        {
            "ffn.key" => weights.Layers[1].FfnKey,
            "ffn.value" => weights.Layers[1].FfnValue,
            "gate.up" => weights.Layers[1].GateUp,
            _ => weights.Head,
        };

        // Both prefetch policies: the hint changes when weights arrive, never the sums.
        foreach (bool accumulate in new[] { false, true })
        {
            AssertExactBlockSums(w, rowStart, rowEnd, accumulate, static (in WeightMatrix m, short[] x, float[] s, float[] y, int a, int b, bool acc) =>
                Mh4Model.Kernels.MatMulQ8Int16<TemporalPrefetch>(m, x, s, y, a, b, acc));
            AssertExactBlockSums(w, rowStart, rowEnd, accumulate, static (in WeightMatrix m, short[] x, float[] s, float[] y, int a, int b, bool acc) =>
                Mh4Model.Kernels.MatMulQ8Int16<NonTemporalPrefetch>(m, x, s, y, a, b, acc));
        }
    }

    [Theory]
    [InlineData(0, 256)]
    [InlineData(3, 254)]
    public void Generated_products_of_an_odd_number_of_blocks_sum_the_last_one_alone(int rowStart, int rowEnd)
    {
        // 32 inputs (mh4's value rank: one block, no loop) and 96 (longrows' decay rank, 1.5B's: one iteration of two
        // blocks, then one alone), both as the LoRAs' second factors read them in one-token steps.
        using RwkvWeights mh4 = RwkvWeights.CreateSynthetic(Mh4Model.DeclaredShape, TensorDType.Q8, seed: 13);
        using RwkvWeights longRows = RwkvWeights.CreateSynthetic(LongRowsModel.DeclaredShape, TensorDType.Q8, seed: 14);
        Assert.Equal(32, mh4.Layers[1].ValueUp.Cols);
        Assert.Equal(96, longRows.Layers[0].DecayUp.Cols);
        foreach (bool accumulate in new[] { false, true })
        {
            AssertExactBlockSums(mh4.Layers[1].ValueUp, rowStart, rowEnd, accumulate, static (in WeightMatrix m, short[] x, float[] s, float[] y, int a, int b, bool acc) =>
                Mh4Model.Kernels.MatMulQ8Int16<NonTemporalPrefetch>(m, x, s, y, a, b, acc));
            AssertExactBlockSums(longRows.Layers[0].DecayUp, rowStart * 5, rowEnd * 5, accumulate, static (in WeightMatrix m, short[] x, float[] s, float[] y, int a, int b, bool acc) =>
                LongRowsModel.Kernels.MatMulQ8Int16<TemporalPrefetch>(m, x, s, y, a, b, acc));
        }
    }

    /// <summary>
    /// In a one-token step each LoRA factor with 8-bit weights reads its input rounded to 16 bits (changes 58 and 61;
    /// mh4: the first factors' 256 inputs, the gate's 64-wide second factor and the others' 32-wide ones).
    /// Every output stays within 3e-5 of the largest output of the float64 LoRA on the same 8-bit weights (measured:
    /// 1.1e-5, the rounding's 2⁻¹⁶ of each block's largest input), and the several-token fp32 products within the same.
    /// </summary>
    [Fact]
    public void One_token_LoRAs_on_8_bit_factors_stay_within_the_16_bit_rounding_of_the_exact_MLP()
    {
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(Mh4Model.DeclaredShape, TensorDType.Q8, seed: 9);
        LayerWeights lw = weights.Layers[1];
        int d = Mh4Model.DeclaredShape.Embedding;
        Assert.Equal(TensorDType.Q8, lw.GateUp.Type);
        Assert.Equal(TensorDType.Q8, lw.DecayDown.Type);
        float[] x = RandomRow(d, seed: 3).Select(v => v * 0.25f).ToArray();
        float[] twoRows = [.. x, .. x];
        float[] scratch = new float[2 * 64];
        double decayScale = Math.Exp(-0.5);
        (string Name, Action<float[], float[], int> Run, Func<double[]> Exact)[] loras =
        [
            ("decay", (input, output, tokens) => Mh4Model.Kernels.DecayLora<TemporalPrefetch>(input, lw, output, scratch, tokens),
                () => Map(Add(Exact(lw.DecayUp, Map(Exact(lw.DecayDown, x), Math.Tanh)), lw.DecayBias), v => Math.Exp(-decayScale * Sigmoid(v)))),
            ("iclr", (input, output, tokens) => Mh4Model.Kernels.IclrLora<TemporalPrefetch>(input, lw, output, scratch, tokens),
                () => Map(Add(Exact(lw.IclrUp, Exact(lw.IclrDown, x)), lw.IclrBias), Sigmoid)),
            ("gate", (input, output, tokens) => Mh4Model.Kernels.GateLora<TemporalPrefetch>(input, lw, output, scratch, tokens),
                () => Exact(lw.GateUp, Map(Exact(lw.GateDown, x), Sigmoid))),
            ("value", (input, output, tokens) => Mh4Model.Kernels.ValueLora<TemporalPrefetch>(input, lw, output, scratch, tokens),
                () => Map(Add(Exact(lw.ValueUp, Exact(lw.ValueDown, x)), lw.ValueBias), Sigmoid)),
        ];

        foreach ((string name, Action<float[], float[], int> run, Func<double[]> exactOf) in loras)
        {
            double[] exact = exactOf();
            double bound = 3e-5 * exact.Max(Math.Abs);
            float[] one = new float[d], two = new float[2 * d];
            run(x, one, 1);
            run(twoRows, two, 2);
            for (int i = 0; i < d; i++)
            {
                Assert.True(Math.Abs(one[i] - exact[i]) <= bound, $"{name} LoRA output {i}, one token: {one[i]} against {exact[i]} (bound {bound:E2})");
                Assert.True(Math.Abs(two[i] - exact[i]) <= bound, $"{name} LoRA output {i}, two tokens: {two[i]} against {exact[i]} (bound {bound:E2})");
                Assert.Equal(two[i], two[d + i]);
            }
        }

        static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
        static double[] Map(double[] v, Func<double, double> f) => v.Select(f).ToArray();
        static double[] Add(double[] v, float[] bias) => v.Select((e, i) => e + bias[i]).ToArray();
    }

    /// <summary>y = W·x in float64 on the 8-bit matrix's values and block scales.</summary>
    private static double[] Exact(in WeightMatrix w, IReadOnlyList<double> x)
    {
        double[] y = new double[w.Rows];
        for (int r = 0; r < w.Rows; r++)
        {
            ReadOnlySpan<sbyte> q = w.Q8RowValues(r);
            ReadOnlySpan<float> scales = w.Q8RowScales(r);
            for (int c = 0; c < w.Cols; c++)
            {
                y[r] += (double)q[c] * scales[c / 32] * x[c];
            }
        }

        return y;
    }

    private static double[] Exact(in WeightMatrix w, float[] x) => Exact(w, x.Select(v => (double)v).ToArray());

    [Fact]
    public void Widths_the_shape_does_not_have_take_the_generic_path()
    {
        // mh4's FFN value rows (1,024 inputs) through the tiny model's kernels, whose widths are 64 and 256.
        using RwkvWeights weights = RwkvWeights.CreateSynthetic(Mh4Model.DeclaredShape, TensorDType.Q8, seed: 5);
        AssertExactBlockSums(weights.Layers[0].FfnValue, 2, 255, accumulate: true, static (in WeightMatrix m, short[] x, float[] s, float[] y, int a, int b, bool acc) =>
            TinyModel.Kernels.MatMulQ8Int16<TemporalPrefetch>(m, x, s, y, a, b, acc));
    }

    [Fact]
    public void Products_check_their_operands()
    {
        using RwkvWeights q8 = RwkvWeights.CreateSynthetic(Mh4Model.DeclaredShape, TensorDType.Q8, seed: 5);
        using RwkvWeights bf16 = RwkvWeights.CreateSynthetic(Mh4Model.DeclaredShape, TensorDType.BF16, seed: 5);
        WeightMatrix key = q8.Layers[0].FfnKey; // [1024][256]
        var y = new float[1024];
        Assert.Throws<ArgumentException>(() => Mh4Model.Kernels.MatMulQ8Int16<NonTemporalPrefetch>(bf16.Layers[0].FfnKey, new short[256], new float[8], y, 0, 1024, false));
        Assert.Throws<ArgumentException>(() => Mh4Model.Kernels.MatMulQ8Int16<NonTemporalPrefetch>(key, new short[255], new float[8], y, 0, 1024, false));
        Assert.Throws<ArgumentException>(() => Mh4Model.Kernels.MatMulQ8Int16<NonTemporalPrefetch>(key, new short[256], new float[7], y, 0, 1024, false));
        Assert.Throws<ArgumentException>(() => Mh4Model.Kernels.MatMulQ8Int16<NonTemporalPrefetch>(key, new short[256], new float[8], new float[1000], 0, 1024, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => Mh4Model.Kernels.MatMulQ8Int16<NonTemporalPrefetch>(key, new short[256], new float[8], y, 0, 1025, false));
    }

    private delegate void Product(in WeightMatrix w, short[] x, float[] xScales, float[] y, int rowStart, int rowEnd, bool accumulate);

    /// <summary>
    /// Runs the product on a random input row and compares every row written with Σ_blocks wScale·xScale·Σ(int8·int16)
    /// in double; rows outside the range must be untouched. The tolerance is float rounding of the partial sums, relative
    /// to the sum of the products' absolute values.
    /// </summary>
    private static void AssertExactBlockSums(in WeightMatrix w, int rowStart, int rowEnd, bool accumulate, Product product)
    {
        float[] input = RandomRow(w.Cols, seed: w.Cols + rowStart);
        short[] x = new short[w.Cols];
        float[] xScales = new float[w.Cols / 32];
        Int16Activations.Quantize(input, x, xScales);
        float[] y = RandomRow(w.Rows, seed: 77);
        float[] before = (float[])y.Clone();
        product(w, x, xScales, y, rowStart, rowEnd, accumulate);

        int blocks = w.Cols / 32;
        for (int r = 0; r < w.Rows; r++)
        {
            if (r < rowStart || r >= rowEnd)
            {
                Assert.Equal(before[r], y[r]);
                continue;
            }

            ReadOnlySpan<sbyte> q = w.Q8RowValues(r);
            ReadOnlySpan<float> scales = w.Q8RowScales(r);
            double exact = accumulate ? before[r] : 0, magnitude = accumulate ? Math.Abs(before[r]) : 0;
            for (int b = 0; b < blocks; b++)
            {
                long dot = 0, absolute = 0;
                for (int i = b * 32; i < (b + 1) * 32; i++)
                {
                    dot += q[i] * x[i];
                    absolute += Math.Abs(q[i] * x[i]);
                }

                // The kernels' partial sums (lanes, then blocks) are bounded by the products' absolute values.
                exact += (double)scales[b] * xScales[b] * dot;
                magnitude += Math.Abs((double)scales[b] * xScales[b]) * absolute;
            }

            Assert.True(
                Math.Abs(y[r] - exact) <= (1e-6 * magnitude) + 1e-30,
                $"{w.Rows}×{w.Cols} row {r} (accumulate {accumulate}): {y[r]} against {exact} (products' magnitude {magnitude:E3})");
        }
    }

    private static float[] RandomRow(int length, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)((rng.NextDouble() * 2) - 1) * (rng.Next(4) + 1)).ToArray();
    }
}
