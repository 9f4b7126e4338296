using Rwkv7.Gen.Gpu.Tests.Support;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Gpu.Tests;

/// <summary>Sessions on the device: moving state between CPU and GPU, batch decode, greedy decode.</summary>
[Collection(GpuCollection.Name)]
public sealed class SessionTests(CpuAcceleratorFixture gpu)
{
    [Fact]
    public void State_upload_then_download_is_bit_exact_and_lands_in_the_chosen_session()
    {
        GpuRwkvModel model = gpu.Model(Models.Mh4Pth);
        var source = new RwkvState(model.Shape);
        var random = new Random(11);
        Span<float> data = source.Data;
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (float)((random.NextDouble() * 2) - 1);
        }

        using GpuState state = model.CreateState(sessions: 3);
        state.Upload(1, source);
        var back = new RwkvState(model.Shape);
        state.Download(1, back);
        Assert.True(source.Data.SequenceEqual(back.Data));

        var untouched = new RwkvState(model.Shape);
        state.Download(0, untouched);
        Assert.All(untouched.Data.ToArray(), x => Assert.Equal(0f, x));
        state.Download(2, untouched);
        Assert.All(untouched.Data.ToArray(), x => Assert.Equal(0f, x));
    }

    [Fact]
    public void A_session_moves_from_CPU_to_GPU_and_back_mid_sequence()
    {
        Goldens goldens = Goldens.Mh4;
        GpuRwkvModel model = gpu.Model(Models.Mh4Pth);
        using RwkvModel cpu = RwkvModel.Create(gpu.Weights(Models.Mh4Pth));
        int v = model.Shape.Vocab;
        int[] tokens = goldens.Tokens;

        // Tokens 0..7 on the CPU, 8..15 on the GPU (in session 1 of 2), 16..23 on the CPU again.
        RwkvState cpuState = cpu.CreateState();
        cpu.Forward(tokens.AsSpan(0, 8), cpuState, []);
        using GpuState state = model.CreateState(sessions: 2);
        state.Upload(1, cpuState);
        float[] middle = new float[v];
        model.Forward(tokens.AsSpan(8, 8), state, middle, session: 1);
        Tolerance.AssertLogitRows(goldens.Logits.AsSpan(15 * v, v), middle, v, "GPU after CPU prefix");

        var resumed = new RwkvState(model.Shape);
        state.Download(1, resumed);
        float[] last = new float[v];
        for (int t = 16; t < tokens.Length; t++)
        {
            cpu.Forward(tokens[t], resumed, last);
        }

        Tolerance.AssertLogitRows(goldens.Logits.AsSpan((tokens.Length - 1) * v, v), last, v, "CPU after GPU middle");
        goldens.AssertFinalState(resumed, "CPU → GPU → CPU");

        // Session 0 was never fed: still the zero state.
        var zero = new RwkvState(model.Shape);
        state.Download(0, zero);
        Assert.All(zero.Data.ToArray(), x => Assert.Equal(0f, x));
    }

    [Fact]
    public void Batch_decode_equals_single_session_decode_bit_for_bit()
    {
        // Each row of a batch goes through the same per-row arithmetic as a lone token (per-token accumulators,
        // per-session WKV groups), so the results must be identical, not merely close.
        GpuRwkvModel model = gpu.Model(Models.Mh4Pth);
        int v = model.Shape.Vocab;
        int[] tokens = Goldens.Mh4.Tokens;
        const int sessions = 3, steps = 3;
        int StreamToken(int session, int step) => tokens[(session * 7) + step];

        using GpuState batch = model.CreateState(sessions);
        float[] batchLogits = new float[sessions * v];
        int[] stepTokens = new int[sessions];
        for (int step = 0; step < steps; step++)
        {
            for (int s = 0; s < sessions; s++)
            {
                stepTokens[s] = StreamToken(s, step);
            }

            model.ForwardBatch(stepTokens, batch, batchLogits);
        }

        for (int s = 0; s < sessions; s++)
        {
            using GpuState single = model.CreateState();
            float[] singleLogits = new float[v];
            for (int step = 0; step < steps; step++)
            {
                model.Forward(StreamToken(s, step), single, singleLogits);
            }

            Assert.True(singleLogits.AsSpan().SequenceEqual(batchLogits.AsSpan(s * v, v)), $"session {s}: batch logits differ from single decode");
            var a = new RwkvState(model.Shape);
            var b = new RwkvState(model.Shape);
            single.Download(0, a);
            batch.Download(s, b);
            Assert.True(a.Data.SequenceEqual(b.Data), $"session {s}: batch state differs from single decode");
        }
    }

    [Fact]
    public void Batch_larger_than_the_row_buffers_runs_in_chunks_of_sessions()
    {
        // MaxRows 10 with 12 sessions: sessions 0..9, then 10..11. Compared with the reference engine.
        GpuRwkvModel model = gpu.Model(Models.Mh4Pth, new GpuModelOptions { MaxRows = 10 }, key: "rows10");
        using RwkvModel reference = RwkvModel.Create(gpu.Weights(Models.Mh4Pth, "rows10"), EngineSelection.Reference);
        int v = model.Shape.Vocab;
        int[] tokens = Goldens.Mh4.Tokens;
        const int sessions = 12;
        using GpuState state = model.CreateState(sessions);
        float[] logits = new float[sessions * v];
        model.ForwardBatch(tokens.AsSpan(0, sessions), state, logits);
        model.ForwardBatch(tokens.AsSpan(sessions, sessions), state, logits);

        for (int s = 0; s < sessions; s++)
        {
            RwkvState cpuState = reference.CreateState();
            float[] expected = new float[v];
            reference.Forward(tokens[s], cpuState, expected);
            reference.Forward(tokens[sessions + s], cpuState, expected);
            Tolerance.AssertLogitRows(expected, logits.AsSpan(s * v, v), v, $"session {s} of a chunked batch");
            var actual = new RwkvState(model.Shape);
            state.Download(s, actual);
            Tolerance.AssertState(cpuState.Data, actual.Data, $"session {s} state");
        }
    }

    [Fact]
    public void Greedy_decode_on_the_device_picks_the_reference_engines_argmax_tokens()
    {
        GpuRwkvModel model = gpu.Model(Models.Mh4Pth);
        using RwkvModel reference = RwkvModel.Create(gpu.Weights(Models.Mh4Pth), EngineSelection.Reference);
        int v = model.Shape.Vocab;
        int[] first = [Goldens.Mh4.Tokens[0], Goldens.Mh4.Tokens[1]];
        const int steps = 3;
        using GpuState state = model.CreateState(first.Length);
        int[] generated = new int[steps * first.Length];
        model.DecodeGreedy(first, state, generated);

        for (int s = 0; s < first.Length; s++)
        {
            RwkvState cpuState = reference.CreateState();
            float[] logits = new float[v];
            int token = first[s];
            for (int step = 0; step < steps; step++)
            {
                reference.Forward(token, cpuState, logits);
                token = logits.AsSpan().IndexOf(logits.AsSpan().ToArray().Max());
                Assert.Equal(token, generated[(step * first.Length) + s]);
            }
        }
    }
}
