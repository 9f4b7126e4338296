using Rwkv7.Gen.Gpu.Tests.Support;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Gpu.Tests;

/// <summary>
/// The generated GPU kernels, run on ILGPU's CPU accelerator, against the float64 goldens: every one of the 24 logit
/// rows and the final state, in RNN mode and in sequence (prefill) mode, for bf16 and fp32 weights.
/// </summary>
/// <remarks>
/// Tolerance: the runtime core's, max |Δlogit| ≤ 1e-4 × the row's standard deviation and state within 1e-4 × its max
/// |value| (DESIGN.md). The GPU path computes in fp32 like the CPU engines but in another order (lanes and tiles split
/// the sums, LayerNorm statistics are group sums, kk is scaled by 1/‖kk‖ instead of divided, exp/sigmoid/tanh come from
/// GpuMath's polynomial). Each of those changes results by a few fp32 ulp per operation, which over 12 layers and 24
/// tokens stays near the 1e-6 relative error that a float32 reference shows (fixtures README: 1.8e-6 × std for tiny,
/// 3.4e-6 for mh4), two orders of magnitude inside the bound; a wrong index or formula moves logits by 0.19 to 3 std
/// on mh4 (its manifest), far outside it.
/// </remarks>
[Collection(GpuCollection.Name)]
public sealed class GoldenTests(CpuAcceleratorFixture gpu)
{
    public static TheoryData<string> SerialFiles() => [Models.TinyBf16Safetensors, Models.Mh4Pth];

    public static TheoryData<string> SequenceFiles() => [Models.TinyFp32Bin, Models.Mh4Safetensors];

    [Theory]
    [MemberData(nameof(SerialFiles))]
    public void Serial_decode_matches_every_golden_row_and_the_final_state(string file)
    {
        Goldens goldens = Goldens.For(file);
        GpuRwkvModel model = gpu.Model(file);
        int v = model.Shape.Vocab;
        using GpuState state = model.CreateState();
        float[] logits = new float[goldens.Tokens.Length * v];
        for (int t = 0; t < goldens.Tokens.Length; t++)
        {
            model.Forward(goldens.Tokens[t], state, logits.AsSpan(t * v, v));
        }

        Tolerance.AssertLogitRows(goldens.Logits, logits, v, $"{file} GPU serial");
        var final = new RwkvState(model.Shape);
        state.Download(0, final);
        goldens.AssertFinalState(final, $"{file} GPU serial");
    }

    [Theory]
    [MemberData(nameof(SequenceFiles))]
    public void Prefill_of_all_tokens_matches_every_golden_row_and_the_final_state(string file)
    {
        Goldens goldens = Goldens.For(file);
        // The fp32 file's values are bf16's and load as bf16 (WeightPrecisionTests); the fp32 kernels are asked for.
        bool f32 = file == Models.TinyFp32Bin;
        GpuRwkvModel model = f32 ? gpu.Model(file, new GpuModelOptions { Format = Kernels.GpuWeightFormat.F32 }, key: "f32") : gpu.Model(file);
        Assert.Equal(f32 ? Kernels.GpuWeightFormat.F32 : Kernels.GpuWeightFormat.Bf16, model.Format);
        int v = model.Shape.Vocab;
        using GpuState state = model.CreateState();
        float[] logits = new float[goldens.Tokens.Length * v];
        model.ForwardAll(goldens.Tokens, state, logits);

        Tolerance.AssertLogitRows(goldens.Logits, logits, v, $"{file} GPU prefill");
        var final = new RwkvState(model.Shape);
        state.Download(0, final);
        goldens.AssertFinalState(final, $"{file} GPU prefill");
    }

    [Fact]
    public void Prefill_equals_serial_decode()
    {
        // Different kernels paths (4-token register tiles and one WKV group looping over the run, against one token
        // at a time): equal within 1e-5 of each row's max |logit| and of the state's max |value|.
        Goldens goldens = Goldens.Mh4;
        GpuRwkvModel model = gpu.Model(Models.Mh4Pth);
        int v = model.Shape.Vocab, n = goldens.Tokens.Length;
        using GpuState serialState = model.CreateState();
        float[] serial = new float[n * v];
        for (int t = 0; t < n; t++)
        {
            model.Forward(goldens.Tokens[t], serialState, serial.AsSpan(t * v, v));
        }

        using GpuState prefillState = model.CreateState();
        float[] prefill = new float[n * v];
        model.ForwardAll(goldens.Tokens, prefillState, prefill);
        for (int t = 0; t < n; t++)
        {
            ReadOnlySpan<float> row = serial.AsSpan(t * v, v);
            Tolerance.AssertState(row, prefill.AsSpan(t * v, v), $"row {t} prefill vs serial", 1e-5);
        }

        var a = new RwkvState(model.Shape);
        var b = new RwkvState(model.Shape);
        serialState.Download(0, a);
        prefillState.Download(0, b);
        Tolerance.AssertState(a.Data, b.Data, "state prefill vs serial", 1e-5);
    }

    [Fact]
    public void Prefill_in_chunks_returns_the_last_row_and_the_final_state()
    {
        // MaxRows 10: the 24 tokens run as chunks of 10, 10 and 4, each resuming from the state the previous left.
        Goldens goldens = Goldens.Mh4;
        GpuRwkvModel model = gpu.Model(Models.Mh4Pth, new GpuModelOptions { MaxRows = 10 }, key: "rows10");
        int v = model.Shape.Vocab;
        using GpuState state = model.CreateState();
        float[] last = new float[v];
        model.Forward(goldens.Tokens, state, last);

        Tolerance.AssertLogitRows(goldens.Logits.AsSpan((goldens.Tokens.Length - 1) * v, v), last, v, "mh4 chunked prefill");
        var final = new RwkvState(model.Shape);
        state.Download(0, final);
        goldens.AssertFinalState(final, "mh4 chunked prefill");
    }
}
