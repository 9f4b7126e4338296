using System.Runtime.Intrinsics;
using Rwkv7.Gen;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;
using Rwkv7.Serving.Engine;
using Xunit.Abstractions;

namespace Rwkv7.Cli.Tests.Serving;

/// <summary>
/// What the engine gives a session stepped alone (<c>Forward</c>) and inside <c>ForwardBatch</c>, on the generated
/// kernels of the tiny fixture and of the 0.1B shape (synthetic bf16, q8 and q4 weights): the facts the scheduler's
/// batch-invariant mode rests on (docs/serving.md, "Batch invariance").
/// </summary>
public sealed class BatchInvarianceTests(ITestOutputHelper output)
{
    private const int Steps = 3;

    public static TheoryData<string> Models => new() { "tiny", "0.1b-bf16", "0.1b-q8", "0.1b-q4" };

    [Theory]
    [MemberData(nameof(Models))]
    public void Padded_batches_give_a_session_the_same_bits_whatever_else_is_in_them(string name)
    {
        RwkvModel model = Load(name);
        int v = model.Shape.Vocab;
        int[] tokens = [11, 22, 33, 44, 55, 66, 77, 88, 99, 10, 20, 30, 40, 50, 60, 70];

        // The probe session (token 11 first) at row 0 of 4 rows, at row 5 of 8, at row 13 of 16, for a few steps.
        float[][] probes = [.. new[] { (4, 0), (8, 5), (16, 13) }.Select(p => ProbeLogits(model, tokens, p.Item1, p.Item2))];
        Assert.Equal(probes[0], probes[1]);
        Assert.Equal(probes[0], probes[2]);
        Assert.Equal(v * Steps, probes[0].Length);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Today_one_session_alone_and_the_same_session_in_a_batch_differ_in_the_last_bits(string name)
    {
        RwkvModel model = Load(name);
        int v = model.Shape.Vocab;
        RwkvState alone = model.CreateState();
        float[] aloneLogits = new float[v];
        model.Forward(11, alone, aloneLogits);

        // Rows 0-3 run the multi-token tiles; a fifth row runs the one-token tiles inside the same batch.
        float[] five = RunBatch(model, [11, 22, 33, 44, 11], 1);
        float[] inTile = five.AsSpan(0, v).ToArray();
        float[] leftover = five.AsSpan(4 * v, v).ToArray();
        double tileDelta = MaxDelta(aloneLogits, inTile), leftoverDelta = MaxDelta(aloneLogits, leftover);
        output.WriteLine($"{name} ({model.EngineName}): max |Forward - batch row in a 4-token tile| = {tileDelta:G3}, max |Forward - leftover batch row| = {leftoverDelta:G3}");

        // fp32 and bf16 weights: a leftover row takes the one-token tiles, as Forward does, and gets its bits exactly.
        // 8-bit weights: Forward alone rounds its inputs to 16 bits for the integer product, a batch never does.
        // 4-bit weights: a batch rounds every row's inputs and sums each row as Forward does, and runs each session's
        // LoRA MLPs (8-bit factors) as a one-token step: every row, in a tile or not, gets Forward's bits.
        bool quantized = name.EndsWith("q8", StringComparison.Ordinal), fourBit = name.EndsWith("q4", StringComparison.Ordinal);
        Assert.Equal(quantized, leftoverDelta > 0);
        Assert.Equal(fourBit, model.BatchRowsMatchForward);

        // Which is why the scheduler pads the others: their tiles' sums differ from the one-token path's (see
        // docs/serving.md). When their kernels become batch invariant this fails: padding is then no longer needed.
        // (Without SIMD, DOTNET_EnableHWIntrinsic=0, the fallback products add every row in one order: nothing differs.)
        Assert.True(fourBit ? tileDelta == 0 : tileDelta > 0 || !Vector128.IsHardwareAccelerated, fourBit
            ? $"a 4-bit batch row should equal Forward bit for bit, not differ by {tileDelta}"
            : "Forward and a tiled ForwardBatch row now agree bit for bit: report BatchRowsMatchForward, drop the padding (BatchInvariance) and update docs/serving.md");
        double scale = 1 + aloneLogits.Max(Math.Abs);
        Assert.True(tileDelta < 1e-3 * scale && leftoverDelta < 1e-3 * scale, $"the paths should agree to rounding, not differ by {tileDelta} and {leftoverDelta}");
    }

    /// <summary>
    /// The 0.1B shape's 4-bit batches (rows split into parts across threads): every row equals its session alone. The
    /// fixtures' shapes are checked at every vector width by <c>QuantizedWeightsTests</c> in the runtime's tests.
    /// </summary>
    [Fact]
    public void Every_row_of_a_4_bit_batch_of_any_size_equals_its_session_stepped_alone()
    {
        const string name = "0.1b-q4";
        RwkvModel model = Load(name);
        Assert.True(model.BatchRowsMatchForward, $"{name} ({model.EngineName}) should report batch rows equal to Forward");
        int v = model.Shape.Vocab;
        int[][] steps = [[11, 22, 33, 44, 55, 66, 77], [5, 6, 7, 8, 9, 10, 12], [13, 14, 15, 16, 17, 18, 19]];

        // Each session alone: Forward, token by token.
        var expected = new float[7][];
        for (int session = 0; session < 7; session++)
        {
            RwkvState state = model.CreateState();
            expected[session] = new float[v];
            foreach (int[] step in steps)
            {
                model.Forward(step[session], state, expected[session]);
            }
        }

        // The same sessions in batches of 1 to 7 (groups of 4, 2 and 1 tokens, and row splits, differ with the size),
        // each session at a different row in each batch.
        for (int size = 1; size <= 7; size++)
        {
            int[] order = [.. Enumerable.Range(0, size).Select(i => ((i * 3) + size) % 7)];
            RwkvState[] states = [.. order.Select(_ => model.CreateState())];
            float[] logits = new float[order.Length * v];
            foreach (int[] step in steps)
            {
                model.ForwardBatch([.. order.Select(session => step[session])], states, logits);
            }

            for (int row = 0; row < order.Length; row++)
            {
                float[] got = logits.AsSpan(row * v, v).ToArray();
                Assert.True(expected[order[row]].AsSpan().SequenceEqual(got),
                    $"{name}: session {order[row]} at row {row} of a batch of {order.Length} differs from Forward by up to {MaxDelta(expected[order[row]], got):G3}");
            }
        }
    }

    /// <summary>The probe session's logits over <see cref="Steps"/> padded batch steps of <paramref name="rows"/> rows, with the probe at <paramref name="at"/>.</summary>
    private static float[] ProbeLogits(RwkvModel model, int[] tokens, int rows, int at)
    {
        int[] batch = [.. tokens.Take(rows)];
        (batch[0], batch[at]) = (batch[at], batch[0]);
        Assert.Equal(rows, BatchInvariance.PaddedRows(rows));
        float[] all = RunBatch(model, batch, Steps, probe: at);
        return all;
    }

    /// <summary>Steps a batch; returns every row's logits of the last step, or the probe row's logits of every step.</summary>
    private static float[] RunBatch(RwkvModel model, int[] tokens, int steps, int? probe = null)
    {
        int v = model.Shape.Vocab, b = tokens.Length;
        RwkvState[] states = [.. tokens.Select(_ => model.CreateState())];
        float[] logits = new float[b * v];
        var probeRows = new List<float>();
        for (int s = 0; s < steps; s++)
        {
            model.ForwardBatch(tokens, states, logits);
            if (probe is int p)
            {
                probeRows.AddRange(logits.AsSpan(p * v, v).ToArray());
            }
        }

        return probe is null ? logits : [.. probeRows];
    }

    private static double MaxDelta(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    private static readonly Dictionary<string, RwkvModel> Cache = [];

    private static RwkvModel Load(string name)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(name, out RwkvModel? model))
            {
                model = name == "tiny" ? TestServer.TinyModel
                    : SyntheticPointOneB(name.EndsWith("q8", StringComparison.Ordinal) ? TensorDType.Q8 : name.EndsWith("q4", StringComparison.Ordinal) ? TensorDType.Q4 : TensorDType.BF16);
                Assert.StartsWith("generated", model.EngineName, StringComparison.Ordinal);
                Cache[name] = model;
            }

            return model;
        }
    }

    private static RwkvModel SyntheticPointOneB(TensorDType type)
    {
        _ = TestServer.TinyModel; // registers the CLI's generated models
        ModelShape shape = GeneratedModelRegistry.FindByName("rwkv7-0.1b")!.Shape;
        return RwkvModel.Create(RwkvWeights.CreateSynthetic(shape, type), EngineSelection.Generated, ownsWeights: true);
    }
}
