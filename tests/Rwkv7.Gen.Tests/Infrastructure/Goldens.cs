namespace Rwkv7.Gen.Tests.Infrastructure;

/// <summary>A goldens folder: the token sequence, the logits after every token and the final state.</summary>
public sealed class Goldens
{
    private Goldens(string folder)
    {
        Folder = folder;
        Tokens = Fixtures.ReadTokens(folder);
        Logits = Fixtures.ReadF32($"{folder}/logits.f32");
        LogitsFirst3 = Fixtures.ReadF32($"{folder}/logits_first3.f32");
        AttX = Fixtures.ReadF32($"{folder}/state_att_x.f32");
        FfnX = Fixtures.ReadF32($"{folder}/state_ffn_x.f32");
        Wkv = Fixtures.ReadF32($"{folder}/state_wkv.f32");
    }

    public string Folder { get; }

    public int[] Tokens { get; }

    /// <summary>[T][V]: row t = logits after tokens[0..t].</summary>
    public float[] Logits { get; }

    public float[] LogitsFirst3 { get; }

    /// <summary>[L][D].</summary>
    public float[] AttX { get; }

    /// <summary>[L][D].</summary>
    public float[] FfnX { get; }

    /// <summary>[L][H][i][j] canonical.</summary>
    public float[] Wkv { get; }

    public static Goldens Tiny { get; } = new(Models.TinyGoldens);

    public static Goldens Mh4 { get; } = new(Models.Mh4Goldens);

    /// <summary>The goldens that belong to a model file (tiny or mh4).</summary>
    public static Goldens For(string modelFile) => Models.IsMh4(modelFile) ? Mh4 : Tiny;

    /// <summary>Asserts the final state of a run over all <see cref="Tokens"/> matches, layer by layer.</summary>
    public void AssertFinalState(RwkvState state, string what)
    {
        ModelShape shape = state.Shape;
        int c = shape.Embedding;
        int wkvPerLayer = shape.Heads * shape.HeadSize * shape.HeadSize;
        float[] canonical = new float[wkvPerLayer];
        for (int layer = 0; layer < shape.Layers; layer++)
        {
            Tolerance.AssertState(AttX.AsSpan(layer * c, c), state.AttX(layer), $"{what} att_x layer {layer}");
            Tolerance.AssertState(FfnX.AsSpan(layer * c, c), state.FfnX(layer), $"{what} ffn_x layer {layer}");
            state.CopyWkvCanonicalTo(layer, canonical);
            Tolerance.AssertState(Wkv.AsSpan(layer * wkvPerLayer, wkvPerLayer), canonical, $"{what} wkv layer {layer}");
        }
    }
}
