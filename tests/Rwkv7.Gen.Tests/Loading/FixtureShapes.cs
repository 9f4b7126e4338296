namespace Rwkv7.Gen.Tests.Loading;

/// <summary>The shapes of the fixture models, as the fixtures README lists them.</summary>
public static class FixtureShapes
{
    /// <summary>tiny-7v0-834K: L12, D64, V256, FFN 256, LoRA ranks 32/32/32/32.</summary>
    public static readonly ModelShape Tiny = new(
        Layers: 12, Embedding: 64, HeadSize: 64, Vocab: 256, Ffn: 256, DecayRank: 32, IclrRank: 32, ValueRank: 32, GateRank: 32);

    /// <summary>mh4: L3, D256, V512, FFN 1024, LoRA ranks 32/32/32/64.</summary>
    public static readonly ModelShape Mh4 = new(
        Layers: 3, Embedding: 256, HeadSize: 64, Vocab: 512, Ffn: 1024, DecayRank: 32, IclrRank: 32, ValueRank: 32, GateRank: 64);

    /// <summary>
    /// Tensors in the tiny model: emb, ln_out (2), head; ln0 (2); 12 blocks of 30, plus 3 value-LoRA tensors in
    /// each block but the first.
    /// </summary>
    public const int TinyTensorCount = 399;

    /// <summary>Tensors in mh4: 4 + 2 + 3 × 30 + 2 × 3.</summary>
    public const int Mh4TensorCount = 102;
}
