using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Weights;
using Xunit.Abstractions;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// 8- and 4-bit weights are judged against the full-precision path: top-1 agreement and the KL divergence of the
/// next-token distributions over the fixture sequences; the generated model's products must equal the reference
/// engine running the same dequantized weights.
/// </summary>
public sealed class QuantizedWeightsTests(ITestOutputHelper output)
{
    /// <summary>
    /// Generated 8-bit decode against the reference engine on the same weights, relative to each logit row's standard
    /// deviation: the inputs rounded to 16 bits account for up to 1.7e-4 on the fixtures (mh4, three layers of random
    /// weights; tiny below 1e-4), while a wrong block scale moves logits by a whole standard deviation.
    /// </summary>
    private const double Int16DecodeTolerance = 1e-3;

    /// <summary>
    /// Generated 4-bit products against the reference engine on the same weights: they round their inputs again, to 8
    /// bits per block (as llama.cpp's Q4_0 products round theirs), which moved logits by 1.6e-2 (tiny) and 2.8e-2 (mh4)
    /// of the row's standard deviation on these fixtures; llama.cpp's own 4-bit kernels sit 1.7e-2 and 9.8e-2 from the
    /// float64 run on the same weights (fixtures README). The weights' own 4-bit rounding moves them by 0.17 and 0.72,
    /// and a wrong block scale or nibble order by whole standard deviations.
    /// </summary>
    private const double Int8InputTolerance = 0.06;

    /// <summary>
    /// 4-bit bounds (see <see cref="AssertAgreement"/>). Measured with the searched scales: tiny 24/24 with a mean KL of
    /// 8.1e-4 nats; mh4, whose random weights every path depends on, 19/24 and 5.9e-2 (max 0.11), identical in prefill
    /// and decode. (Q4_0's plain rounding: 23/24 and 8.4e-4, 20/24 and 7.6e-2, max 0.28.)
    /// </summary>
    private const double Q4MinAgreement = 0.7, Q4MaxMeanKl = 0.2;

    [Theory]
    [InlineData(Models.TinyF32Safetensors, TensorDType.Q8, false)]
    [InlineData(Models.Mh4Safetensors, TensorDType.Q8, false)]
    [InlineData(Models.TinyF32Safetensors, TensorDType.Q8, true)] // one token at a time: the products read 16-bit inputs
    [InlineData(Models.Mh4Safetensors, TensorDType.Q8, true)]
    [InlineData(Models.TinyF32Safetensors, TensorDType.Q4, false)]
    [InlineData(Models.Mh4Safetensors, TensorDType.Q4, false)]
    [InlineData(Models.TinyF32Safetensors, TensorDType.Q4, true)]
    [InlineData(Models.Mh4Safetensors, TensorDType.Q4, true)]
    public void Quantized_model_agrees_with_the_full_precision_model(string file, TensorDType type, bool tokenByToken)
    {
        Goldens goldens = Goldens.For(file);
        using RwkvModel full = RwkvModel.Load(Fixtures.Path(file));
        using RwkvModel quantized = RwkvModel.Load(Fixtures.Path(file), new RwkvModelOptions { Weights = new WeightLoadOptions { MatrixType = type } });
        Assert.Equal(type, quantized.Weights.MatrixType);
        double bytes = type == TensorDType.Q8 ? 0.6 : 0.4;
        Assert.True(quantized.Weights.BytesReadPerToken < full.Weights.BytesReadPerToken * bytes, $"{type} weights must read under {bytes:P0} of bf16's bytes");

        Func<RwkvModel, int[], float[]> run = tokenByToken ? Decode : Prefill;
        AssertAgreement(run(full, goldens.Tokens), run(quantized, goldens.Tokens), full.Shape.Vocab, $"{file}, {type}, {(tokenByToken ? "decode" : "prefill")}", type);
    }

    /// <summary>
    /// Top-1 agreement and mean KL divergence against the full-precision logits. 8-bit: the performance issue's ≥ 99%
    /// agreement and a mean KL under 1e-3 nats. 4-bit (sixteen levels per block, a step 16 times coarser): bounds set
    /// from the measured figures with a margin (docs/benchmarks.md, change 32), far from what a wrong scale or nibble
    /// order gives (agreement near chance, KL of nats).
    /// </summary>
    private void AssertAgreement(float[] a, float[] b, int v, string what, TensorDType type)
    {
        (double minAgreement, double maxKl) = type == TensorDType.Q8 ? (0.99, 1e-3) : (Q4MinAgreement, Q4MaxMeanKl);
        int t = a.Length / v;
        int agree = 0;
        double klSum = 0, klMax = 0;
        for (int row = 0; row < t; row++)
        {
            ReadOnlySpan<float> p = a.AsSpan(row * v, v), q = b.AsSpan(row * v, v);
            agree += ArgMax(p) == ArgMax(q) ? 1 : 0;
            double kl = KlDivergence(p, q);
            klSum += kl;
            klMax = Math.Max(klMax, kl);
        }

        output.WriteLine($"{what}: top-1 agreement {agree}/{t}, mean KL {klSum / t:E3} nats, max KL {klMax:E3}");
        Assert.True(agree >= minAgreement * t, $"{what}: top-1 agreement {agree}/{t} is below {minAgreement:P0}");
        Assert.True(klSum / t < maxKl, $"{what}: mean KL divergence {klSum / t:E3} nats, above {maxKl:E1}");
    }

    /// <summary>Logits of every token, the sequence fed at once (ForwardAll), as a prompt is.</summary>
    private static float[] Prefill(RwkvModel model, int[] tokens)
    {
        float[] logits = new float[tokens.Length * model.Shape.Vocab];
        model.ForwardAll(tokens, model.CreateState(), logits);
        return logits;
    }

    /// <summary>Logits of every token, fed one at a time (Forward), as a sampler would decode.</summary>
    private static float[] Decode(RwkvModel model, int[] tokens)
    {
        int v = model.Shape.Vocab;
        float[] logits = new float[tokens.Length * v];
        RwkvState state = model.CreateState();
        for (int i = 0; i < tokens.Length; i++)
        {
            model.Forward(tokens[i], state, logits.AsSpan(i * v, v));
        }

        return logits;
    }

    [Theory]
    [InlineData(Models.TinyF32Safetensors, TensorDType.Q8, false, false)]
    [InlineData(Models.Mh4Pth, TensorDType.Q8, false, false)]
    [InlineData(Models.TinyF32Safetensors, TensorDType.Q8, true, false)]
    [InlineData(Models.Mh4Pth, TensorDType.Q8, true, false)]
    [InlineData(Models.TinyF32Safetensors, TensorDType.Q4, false, false)]
    [InlineData(Models.Mh4Pth, TensorDType.Q4, false, false)]
    [InlineData(Models.TinyF32Safetensors, TensorDType.Q4, false, true)]
    [InlineData(Models.Mh4Pth, TensorDType.Q4, false, true)]
    [InlineData(Models.TinyF32Safetensors, TensorDType.Q4, true, false)]
    [InlineData(Models.Mh4Pth, TensorDType.Q4, true, false)]
    public void Generated_model_matches_the_reference_engine_on_the_same_quantized_weights(string file, TensorDType type, bool tokenByToken, bool widenedPrefill)
    {
        // Prefill's products take fp32 inputs, as the reference engine's do: equal within float rounding. Decode's
        // round them to 16 bits per block first (each within 2^-16 of its block's largest magnitude), a difference far
        // below the quantized weights' own (2^-8, 2^-4); 4-bit products round them again to 8 bits (2^-8, as the 8-bit
        // weights' own), and so does a 4-bit prefill of a prompt no longer than the tuning's Int16SequenceTokens at this
        // width (64 tokens at 512 and 256 bits: the fixtures' 24-token prompts take the integer path at both). 4-bit
        // prefill otherwise widens rows into the generated tiles (forced here by a tuning of 0 tokens, widenedPrefill),
        // 4-bit decode runs Q4Kernels.MatMulInt8 (on 512, 256 or no vectors, as the test run allows).
        Goldens goldens = Goldens.For(file);
        using RwkvWeights weights = RwkvWeights.Load(Fixtures.Path(file), new WeightLoadOptions { MatrixType = type });
        using RwkvModel generated = RwkvModel.Create(weights, EngineSelection.Generated);
        using RwkvModel reference = RwkvModel.Create(weights, EngineSelection.Reference);
        if (widenedPrefill)
        {
            generated.Tuning = generated.Tuning! with { Int16SequenceTokens512 = 0, Int16SequenceTokens256 = 0 };
        }

        Func<RwkvModel, int[], float[]> run = tokenByToken ? Decode : Prefill;
        bool integerInputs = tokenByToken
            || (type == TensorDType.Q4 && goldens.Tokens.Length <= Specialized.Products<Rwkv7.Gen.Tests.Generated.TinyModel.Kernels>.Int16SequenceTokens(generated.Tuning!));
        double tolerance = !integerInputs ? 1e-5 : type == TensorDType.Q4 ? Int8InputTolerance : Int16DecodeTolerance;
        Tolerance.AssertLogitRows(
            run(reference, goldens.Tokens), run(generated, goldens.Tokens), weights.Shape.Vocab,
            $"{file} {type} {(tokenByToken ? "decode" : "prefill")}, generated vs reference", relative: tolerance);
    }

    /// <summary>
    /// A 4-bit batch sums every row as a one-token step does (8-bit inputs, the same additions in the same order, each
    /// session's LoRA MLPs run alone), so each row of a batch of any size equals that session stepped alone by
    /// <c>Forward</c>, bit for bit, whatever its neighbours: what lets a server batch without padding
    /// (<see cref="RwkvModel.BatchRowsMatchForward"/>). Batches of 1 to 7 take groups of 4, 2 and 1 tokens in the
    /// 4-bit products and put each session at a different row; on 1 thread and on all of them. 8-bit and bf16 engines
    /// do not claim it (their several-token tiles add in another order); the reference engine does.
    /// </summary>
    [Theory]
    [InlineData(Models.TinyF32Safetensors, TensorDType.Q4, EngineSelection.Generated, true)]
    [InlineData(Models.Mh4Safetensors, TensorDType.Q4, EngineSelection.Generated, true)]
    [InlineData(Models.Mh4Safetensors, TensorDType.Q8, EngineSelection.Generated, false)]
    [InlineData(Models.Mh4Safetensors, TensorDType.BF16, EngineSelection.Generated, false)]
    [InlineData(Models.Mh4Safetensors, TensorDType.Q4, EngineSelection.Reference, true)]
    public void A_batch_row_equals_its_session_stepped_alone_exactly_where_the_engine_says_so(string file, TensorDType type, EngineSelection engine, bool claimed)
    {
        using RwkvWeights weights = RwkvWeights.Load(Fixtures.Path(file), new WeightLoadOptions { MatrixType = type });
        using RwkvModel model = RwkvModel.Create(weights, engine);
        Assert.Equal(claimed, model.BatchRowsMatchForward);
        if (!claimed)
        {
            return;
        }

        int v = model.Shape.Vocab, sessions = 7;
        int[][] steps = [[11, 22, 33, 44, 55, 66, 77], [5, 6, 7, 8, 9, 10, 12], [13, 14, 15, 16, 17, 18, 19]];
        foreach (int threads in new[] { 1, Environment.ProcessorCount })
        {
            model.Threads = threads;
            var alone = new float[sessions][];
            for (int session = 0; session < sessions; session++)
            {
                RwkvState state = model.CreateState();
                alone[session] = new float[v];
                foreach (int[] step in steps)
                {
                    model.Forward(step[session] % v, state, alone[session]);
                }
            }

            for (int size = 1; size <= sessions; size++)
            {
                int[] order = [.. Enumerable.Range(0, size).Select(i => ((i * 3) + size) % sessions)];
                RwkvState[] states = [.. order.Select(_ => model.CreateState())];
                float[] logits = new float[size * v];
                foreach (int[] step in steps)
                {
                    model.ForwardBatch([.. order.Select(session => step[session] % v)], states, logits);
                }

                for (int row = 0; row < size; row++)
                {
                    Assert.True(alone[order[row]].AsSpan().SequenceEqual(logits.AsSpan(row * v, v)),
                        $"{file} {type} on {threads} thread(s): session {order[row]} at row {row} of a batch of {size} differs from Forward");
                }
            }
        }
    }

    /// <summary>
    /// A packed 8-bit row is its int8 values and then its block scales, one stream per row; the values dequantize to
    /// the checkpoint's row within half a step. Checked on a product matrix, a LoRA factor (transposed at load) and the head.
    /// </summary>
    [Fact]
    public void Packed_q8_rows_hold_their_values_then_their_scales()
    {
        using RwkvWeights full = RwkvWeights.Load(Fixtures.Path(Models.TinyF32Safetensors));
        using RwkvWeights q8 = RwkvWeights.Load(Fixtures.Path(Models.TinyF32Safetensors), new WeightLoadOptions { MatrixType = TensorDType.Q8 });
        foreach ((string name, WeightMatrix f, WeightMatrix q) in new[]
        {
            ("blocks.0.att.key", full.Layers[0].Key, q8.Layers[0].Key),
            ("blocks.1.att.w1 (transposed)", full.Layers[1].DecayDown, q8.Layers[1].DecayDown),
            ("head", full.Head, q8.Head),
        })
        {
            Assert.Equal(TensorDType.Q8, q.Type);
            Assert.Equal((f.Rows, f.Cols), (q.Rows, q.Cols));
            int stride = q.Cols + (q.Cols / 32 * sizeof(float));
            Assert.Equal(stride, q.Q8RowStride);
            Assert.Equal((long)q.Rows * stride, q.ByteLength);
            ReadOnlySpan<byte> packed = MemoryMarshal.AsBytes(q.AsQ8Span());
            Assert.Equal(q.Rows * stride, packed.Length);
            float[] expected = new float[q.Cols], back = new float[q.Cols];
            for (int r = 0; r < q.Rows; r++)
            {
                ReadOnlySpan<byte> row = packed.Slice(r * stride, stride);
                Assert.True(MemoryMarshal.AsBytes(q.Q8RowValues(r)).SequenceEqual(row[..q.Cols]), $"{name} row {r}: values");
                Assert.True(q.Q8RowScales(r).SequenceEqual(MemoryMarshal.Cast<byte, float>(row[q.Cols..])), $"{name} row {r}: scales");
                f.ReadRow(r, expected);
                q.ReadRow(r, back);
                for (int i = 0; i < q.Cols; i++)
                {
                    float step = q.Q8RowScales(r)[i / 32];
                    Assert.True(Math.Abs(expected[i] - back[i]) <= (step / 2) + 1e-7, $"{name} row {r} element {i}: {expected[i]} → {back[i]}");
                }
            }
        }
    }

    [Fact]
    public void Quantizing_a_row_bounds_the_error_by_half_a_step()
    {
        var rng = new Random(5);
        float[] row = Enumerable.Range(0, 96).Select(_ => (float)((rng.NextDouble() * 2) - 1) * (rng.Next(3) + 1)).ToArray();
        row[40] = 0; // a block may contain zeros
        sbyte[] q = new sbyte[96];
        float[] scales = new float[3];
        Q8Quantizer.QuantizeRow(row, q, scales);
        float[] back = new float[96];
        Q8Quantizer.DequantizeRow(q, scales, back);
        for (int i = 0; i < row.Length; i++)
        {
            Assert.True(Math.Abs(row[i] - back[i]) <= (scales[i / 32] / 2) + 1e-7, $"element {i}: {row[i]} → {back[i]}");
        }

        Assert.Contains(q, x => x is 127 or -127); // each block's largest magnitude uses the full range
        float[] zeros = new float[32];
        Q8Quantizer.QuantizeRow(zeros, q.AsSpan(0, 32), scales.AsSpan(0, 1));
        Assert.Equal(0f, scales[0]);
    }

    /// <summary>
    /// A packed 4-bit row is its values, two to a byte (value i of a block in the low nibble of byte i, value i + 16 in
    /// the high one), then its block scales; every block dequantizes to the checkpoint's with no more squared error than
    /// GGML Q4_0's rounding. LoRA factors are quantized to 8 bits and the embedding table keeps its type.
    /// </summary>
    [Fact]
    public void Packed_q4_rows_hold_their_values_then_their_scales()
    {
        using RwkvWeights full = RwkvWeights.Load(Fixtures.Path(Models.Mh4Safetensors));
        using RwkvWeights q4 = RwkvWeights.Load(Fixtures.Path(Models.Mh4Safetensors), new WeightLoadOptions { MatrixType = TensorDType.Q4 });
        Assert.Equal(TensorDType.Q4, q4.MatrixType);
        Assert.Equal(full.Embedding.Type, q4.Embedding.Type);
        Assert.All(q4.Layers, l =>
        {
            Assert.Equal(TensorDType.Q8, l.DecayDown.Type);
            Assert.Equal(TensorDType.Q8, l.GateUp.Type);
            Assert.Equal(TensorDType.Q4, l.Receptance.Type);
            Assert.Equal(TensorDType.Q4, l.FfnValue.Type);
        });

        foreach ((string name, WeightMatrix f, WeightMatrix q) in new[]
        {
            ("blocks.0.att.key", full.Layers[0].Key, q4.Layers[0].Key),
            ("blocks.2.ffn.value", full.Layers[2].FfnValue, q4.Layers[2].FfnValue),
            ("head", full.Head, q4.Head),
        })
        {
            Assert.Equal(TensorDType.Q4, q.Type);
            Assert.Equal((f.Rows, f.Cols), (q.Rows, q.Cols));
            int stride = (q.Cols / 2) + (q.Cols / 32 * sizeof(float));
            Assert.Equal(stride, q.Q4RowStride);
            Assert.Equal((long)q.Rows * stride, q.ByteLength);
            ReadOnlySpan<byte> packed = q.AsQ4Span();
            float[] expected = new float[q.Cols], back = new float[q.Cols];
            for (int r = 0; r < q.Rows; r++)
            {
                ReadOnlySpan<byte> row = packed.Slice(r * stride, stride);
                Assert.True(q.Q4RowValues(r).SequenceEqual(row[..(q.Cols / 2)]), $"{name} row {r}: values");
                Assert.True(q.Q4RowScales(r).SequenceEqual(MemoryMarshal.Cast<byte, float>(row[(q.Cols / 2)..])), $"{name} row {r}: scales");
                f.ReadRow(r, expected);
                q.ReadRow(r, back);
                for (int i = 0; i < q.Cols; i++)
                {
                    float scale = q.Q4RowScales(r)[i / 32];
                    int at = Q4Block.ByteOffset(i / 32, i % 16, q.Cols / 32);
                    int nibble = (i % 32) < 16 ? row[at] & 0xF : row[at] >> 4;
                    Assert.Equal(scale * (nibble - 8), back[i]);
                }

                for (int b = 0; b < q.Cols / 32; b++)
                {
                    ReadOnlySpan<float> block = expected.AsSpan(b * 32, 32);
                    Assert.True(SquaredError(block, back.AsSpan(b * 32, 32)) <= Q4_0SquaredError(block) * (1 + 1e-5), $"{name} row {r} block {b}: more error than Q4_0's rounding");
                }
            }
        }
    }

    [Fact]
    public void Q4_rows_store_their_blocks_in_groups_of_eight_four_bytes_of_each_in_turn()
    {
        // Eleven blocks: one group of eight, then three alone. Every byte value is distinct (7i + 3 is a bijection mod 256).
        byte[] plain = [.. Enumerable.Range(0, 11 * 16).Select(i => (byte)((7 * i) + 3))];
        byte[] grouped = [.. plain];
        Q4Block.Group(grouped);
        Assert.Equal(plain[(16 * 3) + (4 * 2) + 1], grouped[(32 * 2) + (4 * 3) + 1]); // byte 32c + 4j + i of a group is byte 4c + i of block j
        for (int b = 0; b < 11; b++)
        {
            for (int i = 0; i < 16; i++)
            {
                Assert.Equal(plain[(b * 16) + i], grouped[Q4Block.ByteOffset(b, i, 11)]);
            }
        }

        Assert.Equal(plain.AsSpan(128).ToArray(), grouped.AsSpan(128).ToArray()); // blocks after the group stay block by block
        Assert.NotEqual(plain.AsSpan(0, 128).ToArray(), grouped.AsSpan(0, 128).ToArray());
        Q4Block.Ungroup(grouped);
        Assert.Equal(plain, grouped);
        Assert.Throws<ArgumentException>(() => Q4Block.Group(new byte[20]));
    }

    [Fact]
    public void Quantizing_a_row_to_4_bits_errs_no_more_than_q4_0_rounding_in_any_block()
    {
        var rng = new Random(6);
        float[] row = Enumerable.Range(0, 96).Select(_ => (float)((rng.NextDouble() * 2) - 1) * (rng.Next(3) + 1)).ToArray();
        row[40] = 0;
        row[70] = -5; // the largest magnitude of its block, negative
        byte[] packed = new byte[48];
        float[] scales = new float[3];
        Q4Quantizer.QuantizeRow(row, packed, scales);
        float[] back = new float[96];
        Q4Quantizer.DequantizeRow(packed, scales, back);
        for (int b = 0; b < 3; b++)
        {
            ReadOnlySpan<float> block = row.AsSpan(b * 32, 32);
            Assert.True(
                SquaredError(block, back.AsSpan(b * 32, 32)) <= Q4_0SquaredError(block) * (1 + 1e-5),
                $"block {b}: squared error {SquaredError(block, back.AsSpan(b * 32, 32))} against Q4_0's {Q4_0SquaredError(block)}");
        }

        // Element 70 is value 6 of block 2: the low nibble of the block's byte 6, holding q + 8.
        Assert.Equal(scales[2] * ((packed[32 + 6] & 0xF) - 8), back[70]);
        Assert.Equal(scales[2] * ((packed[32 + 6] >> 4) - 8), back[70 + 16]);
        float[] zeros = new float[32];
        Q4Quantizer.QuantizeRow(zeros, packed.AsSpan(0, 16), scales.AsSpan(0, 1));
        Assert.Equal(0f, scales[0]);
        Assert.All(packed.AsSpan(0, 16).ToArray(), b => Assert.Equal(0x88, b));
    }

    [Fact]
    public void Quantizing_to_4_bits_gives_the_same_bytes_and_scales_on_every_vector_width()
    {
        const int blocks = 400;
        float[] row = StressRow(blocks);

        (byte[] Packed, float[] Scales) Quantize(QuantizerPath path)
        {
            byte[] packed = new byte[row.Length / 2];
            float[] scales = new float[blocks];
            Q4Quantizer.QuantizeRow(row, packed, scales, path);
            return (packed, scales);
        }

        (byte[] scalarPacked, float[] scalarScales) = Quantize(QuantizerPath.Scalar);
        foreach (QuantizerPath path in new[] { QuantizerPath.Vector256, QuantizerPath.Vector512 })
        {
            (byte[] packed, float[] scales) = Quantize(path);
            for (int b = 0; b < blocks; b++)
            {
                Assert.True(
                    BitConverter.SingleToInt32Bits(scalarScales[b]) == BitConverter.SingleToInt32Bits(scales[b])
                        && packed.AsSpan(b * 16, 16).SequenceEqual(scalarPacked.AsSpan(b * 16, 16)),
                    $"{path}, block {b} (kind {b % 8}): scale {scales[b]:R} against the scalar path's {scalarScales[b]:R}, bytes "
                    + $"{Convert.ToHexString(packed, b * 16, 16)} against {Convert.ToHexString(scalarPacked, b * 16, 16)}");
            }
        }

        // The first of two tied largest magnitudes sets the sign: +1.5 comes first in block 0 and maps to q = −8, so the
        // block's scale is negative.
        Assert.True(scalarScales[0] < 0, $"block 0's scale is {scalarScales[0]}");

        // A block too small for 1 / step to be finite keeps no step: zero scale, every q 0. One with a NaN keeps none
        // either, and its scale is NaN, so that the product is NaN as in every other precision, not silently zero.
        Assert.Equal(0f, scalarScales[5]);
        Assert.True(float.IsNaN(scalarScales[6]), $"block 6's scale is {scalarScales[6]}"); // a NaN
        Assert.True(float.IsNaN(scalarScales[14]), $"block 14's scale is {scalarScales[14]}"); // an infinity
        foreach (int b in new[] { 5, 6 })
        {
            Assert.All(Enumerable.Range(0, 16), i => Assert.Equal(0x88, scalarPacked[Q4Block.ByteOffset(b, i, blocks)]));
        }
    }

    [Fact]
    public void Quantizing_to_8_bits_gives_the_same_values_and_scales_on_every_vector_width()
    {
        const int blocks = 400;
        float[] row = StressRow(blocks);
        (sbyte[] Values, float[] Scales) Quantize(QuantizerPath path)
        {
            sbyte[] values = new sbyte[row.Length];
            float[] scales = new float[blocks];
            Q8Quantizer.QuantizeRow(row, values, scales, path);
            return (values, scales);
        }

        (sbyte[] scalarValues, float[] scalarScales) = Quantize(QuantizerPath.Scalar);
        foreach (QuantizerPath path in new[] { QuantizerPath.Vector256, QuantizerPath.Vector512 })
        {
            (sbyte[] values, float[] scales) = Quantize(path);
            for (int b = 0; b < blocks; b++)
            {
                Assert.True(
                    BitConverter.SingleToInt32Bits(scalarScales[b]) == BitConverter.SingleToInt32Bits(scales[b])
                        && values.AsSpan(b * 32, 32).SequenceEqual(scalarValues.AsSpan(b * 32, 32)),
                    $"{path}, block {b} (kind {b % 8}): scale {scales[b]:R} against the scalar path's {scalarScales[b]:R}, values "
                    + $"{string.Join(' ', values.AsSpan(b * 32, 32).ToArray())} against {string.Join(' ', scalarValues.AsSpan(b * 32, 32).ToArray())}");
            }
        }

        // Each finite block's largest magnitude maps to ±127; a NaN or an infinity makes the scale NaN or infinite, so
        // the block's products are not finite in 8 bits either.
        Assert.Equal(127, Math.Abs((int)scalarValues[MaxIndex(scalarValues.AsSpan(0, 32))]));
        Assert.False(float.IsFinite(scalarScales[6]));
        Assert.False(float.IsFinite(scalarScales[14]));
    }

    private static int MaxIndex(ReadOnlySpan<sbyte> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            best = Math.Abs((int)values[i]) > Math.Abs((int)values[best]) ? i : best;
        }

        return best;
    }

    /// <summary>
    /// Blocks of 32 that stress a quantizer, by kind (block index mod 8): ties of largest magnitude with opposite signs
    /// (the first one sets the sign), a single nonzero value, all zeros, values that round to exact halves, a wide
    /// range of magnitudes, subnormals, a NaN or an infinity, and ordinary weights.
    /// </summary>
    private static float[] StressRow(int blocks)
    {
        var rng = new Random(11);
        float[] row = new float[blocks * 32];
        for (int b = 0; b < blocks; b++)
        {
            Span<float> block = row.AsSpan(b * 32, 32);
            switch (b % 8)
            {
                case 0:
                    for (int i = 0; i < 32; i++) { block[i] = (float)((rng.NextDouble() * 2) - 1); }
                    block[rng.Next(16)] = 1.5f;
                    block[16 + rng.Next(16)] = -1.5f;
                    break;
                case 1:
                    block[rng.Next(32)] = (float)(rng.NextDouble() - 0.5);
                    break;
                case 2:
                    break;
                case 3:
                    for (int i = 0; i < 32; i++) { block[i] = (rng.Next(17) - 8) * 0.25f; }
                    break;
                case 4:
                    for (int i = 0; i < 32; i++) { block[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-6, 4))); }
                    break;
                case 5:
                    for (int i = 0; i < 32; i++) { block[i] = (rng.Next(200) - 100) * 1e-42f; }
                    break;
                case 6:
                    for (int i = 0; i < 32; i++) { block[i] = (float)((rng.NextDouble() * 2) - 1); }
                    block[rng.Next(32)] = b % 16 == 6 ? float.NaN : float.NegativeInfinity;
                    break;
                default:
                    for (int i = 0; i < 32; i++) { block[i] = (float)(rng.NextDouble() * 0.04) - 0.02f; }
                    break;
            }
        }

        return row;
    }

    private static double SquaredError(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        double sum = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            sum += (double)(expected[i] - actual[i]) * (expected[i] - actual[i]);
        }

        return sum;
    }

    /// <summary>GGML Q4_0's rounding of one block: the value of largest magnitude maps to −8, the rest round to −8…7.</summary>
    private static double Q4_0SquaredError(ReadOnlySpan<float> block)
    {
        float extreme = 0;
        foreach (float v in block)
        {
            extreme = Math.Abs(v) > Math.Abs(extreme) ? v : extreme;
        }

        float scale = extreme / -8;
        float[] back = [.. block.ToArray().Select(v => scale == 0 ? 0 : scale * Math.Clamp(MathF.Round(v / scale), -8, 7))];
        return SquaredError(block, back);
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++)
        {
            best = x[i] > x[best] ? i : best;
        }

        return best;
    }

    /// <summary>KL(softmax(p) ‖ softmax(q)) in nats.</summary>
    private static double KlDivergence(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        double mp = double.MinValue, mq = double.MinValue;
        for (int i = 0; i < p.Length; i++)
        {
            mp = Math.Max(mp, p[i]);
            mq = Math.Max(mq, q[i]);
        }

        double zp = 0, zq = 0;
        for (int i = 0; i < p.Length; i++)
        {
            zp += Math.Exp(p[i] - mp);
            zq += Math.Exp(q[i] - mq);
        }

        double kl = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double lp = p[i] - mp - Math.Log(zp), lq = q[i] - mq - Math.Log(zq);
            kl += Math.Exp(lp) * (lp - lq);
        }

        return Math.Max(0, kl);
    }
}
