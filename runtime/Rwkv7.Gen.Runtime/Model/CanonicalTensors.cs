namespace Rwkv7.Gen;

/// <summary>How a canonical tensor is used by the computation.</summary>
public enum TensorRole
{
    /// <summary>A per-channel vector (LayerNorm parameters, token-shift mixes, biases, r_k).</summary>
    Vector,

    /// <summary>A linear layer used as y = W·x, stored (out, in): R, K, V, O, FFN, head and embedding.</summary>
    Linear,

    /// <summary>A LoRA factor used as x·A (x on the left), stored (in, out) in checkpoints.</summary>
    LoraFactor,
}

/// <summary>
/// Which parameter of the model a canonical tensor is: the property of <see cref="Weights.RwkvWeights"/> or of a
/// layer's <see cref="Weights.LayerWeights"/> it is packed into. Names are written once, in
/// <see cref="CanonicalTensors.For"/>; everything else goes by slot.
/// </summary>
public enum TensorSlot
{
    /// <summary><c>emb.weight</c>.</summary>
    Embedding,

    /// <summary><c>blocks.0.ln0.weight</c>, applied to the embedding.</summary>
    Ln0Weight,

    /// <summary><c>blocks.0.ln0.bias</c>.</summary>
    Ln0Bias,

    /// <summary><c>ln_out.weight</c>.</summary>
    LnOutWeight,

    /// <summary><c>ln_out.bias</c>.</summary>
    LnOutBias,

    /// <summary><c>head.weight</c>.</summary>
    Head,

    /// <summary><c>blocks.i.ln1.weight</c>.</summary>
    Ln1Weight,

    /// <summary><c>blocks.i.ln1.bias</c>.</summary>
    Ln1Bias,

    /// <summary><c>blocks.i.ln2.weight</c>.</summary>
    Ln2Weight,

    /// <summary><c>blocks.i.ln2.bias</c>.</summary>
    Ln2Bias,

    /// <summary><c>blocks.i.att.x_r</c>.</summary>
    MixR,

    /// <summary><c>blocks.i.att.x_w</c>.</summary>
    MixW,

    /// <summary><c>blocks.i.att.x_k</c>.</summary>
    MixK,

    /// <summary><c>blocks.i.att.x_v</c>.</summary>
    MixV,

    /// <summary><c>blocks.i.att.x_a</c>.</summary>
    MixA,

    /// <summary><c>blocks.i.att.x_g</c>.</summary>
    MixG,

    /// <summary><c>blocks.i.att.w1</c> (decay LoRA, down).</summary>
    DecayDown,

    /// <summary><c>blocks.i.att.w2</c> (decay LoRA, up).</summary>
    DecayUp,

    /// <summary><c>blocks.i.att.w0</c> (decay bias).</summary>
    DecayBias,

    /// <summary><c>blocks.i.att.a1</c> (in-context learning rate LoRA, down).</summary>
    IclrDown,

    /// <summary><c>blocks.i.att.a2</c>.</summary>
    IclrUp,

    /// <summary><c>blocks.i.att.a0</c>.</summary>
    IclrBias,

    /// <summary><c>blocks.i.att.v1</c> (value-residual LoRA, down; layers ≥ 1).</summary>
    ValueDown,

    /// <summary><c>blocks.i.att.v2</c>.</summary>
    ValueUp,

    /// <summary><c>blocks.i.att.v0</c>.</summary>
    ValueBias,

    /// <summary><c>blocks.i.att.g1</c> (gate LoRA, down).</summary>
    GateDown,

    /// <summary><c>blocks.i.att.g2</c>.</summary>
    GateUp,

    /// <summary><c>blocks.i.att.k_k</c>.</summary>
    KeyK,

    /// <summary><c>blocks.i.att.k_a</c>.</summary>
    KeyA,

    /// <summary><c>blocks.i.att.r_k</c> (bonus, per head).</summary>
    BonusRK,

    /// <summary><c>blocks.i.att.receptance.weight</c>.</summary>
    Receptance,

    /// <summary><c>blocks.i.att.key.weight</c>.</summary>
    Key,

    /// <summary><c>blocks.i.att.value.weight</c>.</summary>
    Value,

    /// <summary><c>blocks.i.att.output.weight</c>.</summary>
    Output,

    /// <summary><c>blocks.i.att.ln_x.weight</c> (GroupNorm).</summary>
    LnXWeight,

    /// <summary><c>blocks.i.att.ln_x.bias</c>.</summary>
    LnXBias,

    /// <summary><c>blocks.i.ffn.x_k</c>.</summary>
    FfnMixK,

    /// <summary><c>blocks.i.ffn.key.weight</c>.</summary>
    FfnKey,

    /// <summary><c>blocks.i.ffn.value.weight</c>.</summary>
    FfnValue,
}

/// <summary>A tensor a model of a given shape must contain, with its canonical name and PyTorch dimensions.</summary>
/// <param name="Name">RWKV-LM state_dict key.</param>
/// <param name="Shape">Dimensions, outermost first.</param>
/// <param name="Role">How the tensor is used.</param>
/// <param name="Slot">Which parameter it is.</param>
/// <param name="Layer">Its block, or -1 for a tensor outside the blocks.</param>
public sealed record CanonicalTensor(string Name, int[] Shape, TensorRole Role, TensorSlot Slot, int Layer = -1)
{
    /// <summary>Number of elements.</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (int d in Shape)
            {
                n *= d;
            }

            return n;
        }
    }
}

/// <summary>
/// The canonical tensor list of an RWKV-7 model, in RWKV-LM <c>state_dict()</c> order (the order our fixtures
/// and rwkv.cpp use). Loaders look tensors up by these names; writers emit them in this order.
/// </summary>
public static class CanonicalTensors
{
    /// <summary>The six token-shift mix vectors of the time mix, in the order rwkv.cpp merges them (x_rwkvag).</summary>
    public static readonly string[] TimeMixShiftNames = ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"];

    /// <summary>The slots of <see cref="TimeMixShiftNames"/>, in the same order.</summary>
    private static readonly TensorSlot[] TimeMixShiftSlots = [TensorSlot.MixR, TensorSlot.MixW, TensorSlot.MixK, TensorSlot.MixV, TensorSlot.MixA, TensorSlot.MixG];

    /// <summary>Every tensor a model of <paramref name="shape"/> holds (layer 0 without the value-residual LoRA).</summary>
    public static IEnumerable<CanonicalTensor> For(ModelShape shape)
    {
        int c = shape.Embedding;
        int[] vec = [c];
        int[] mix = [1, 1, c];
        yield return new("emb.weight", [shape.Vocab, c], TensorRole.Linear, TensorSlot.Embedding);
        for (int i = 0; i < shape.Layers; i++)
        {
            string b = $"blocks.{i}.";
            CanonicalTensor Vector(string name, TensorSlot slot, int[]? dims = null) => new(b + name, dims ?? vec, TensorRole.Vector, slot, i);
            CanonicalTensor Linear(string name, TensorSlot slot, int rows, int cols) => new(b + name, [rows, cols], TensorRole.Linear, slot, i);
            CanonicalTensor Lora(string name, TensorSlot slot, int rows, int cols) => new(b + name, [rows, cols], TensorRole.LoraFactor, slot, i);

            yield return Vector("ln1.weight", TensorSlot.Ln1Weight);
            yield return Vector("ln1.bias", TensorSlot.Ln1Bias);
            yield return Vector("ln2.weight", TensorSlot.Ln2Weight);
            yield return Vector("ln2.bias", TensorSlot.Ln2Bias);
            if (i == 0)
            {
                yield return new(b + "ln0.weight", vec, TensorRole.Vector, TensorSlot.Ln0Weight);
                yield return new(b + "ln0.bias", vec, TensorRole.Vector, TensorSlot.Ln0Bias);
            }

            for (int m = 0; m < TimeMixShiftNames.Length; m++)
            {
                yield return Vector("att." + TimeMixShiftNames[m], TimeMixShiftSlots[m], mix);
            }

            yield return Lora("att.w1", TensorSlot.DecayDown, c, shape.DecayRank);
            yield return Lora("att.w2", TensorSlot.DecayUp, shape.DecayRank, c);
            yield return Vector("att.w0", TensorSlot.DecayBias, mix);
            yield return Lora("att.a1", TensorSlot.IclrDown, c, shape.IclrRank);
            yield return Lora("att.a2", TensorSlot.IclrUp, shape.IclrRank, c);
            yield return Vector("att.a0", TensorSlot.IclrBias, mix);
            if (i > 0)
            {
                yield return Lora("att.v1", TensorSlot.ValueDown, c, shape.ValueRank);
                yield return Lora("att.v2", TensorSlot.ValueUp, shape.ValueRank, c);
                yield return Vector("att.v0", TensorSlot.ValueBias, mix);
            }

            yield return Lora("att.g1", TensorSlot.GateDown, c, shape.GateRank);
            yield return Lora("att.g2", TensorSlot.GateUp, shape.GateRank, c);
            yield return Vector("att.k_k", TensorSlot.KeyK, mix);
            yield return Vector("att.k_a", TensorSlot.KeyA, mix);
            yield return Vector("att.r_k", TensorSlot.BonusRK, [shape.Heads, shape.HeadSize]);
            yield return Linear("att.receptance.weight", TensorSlot.Receptance, c, c);
            yield return Linear("att.key.weight", TensorSlot.Key, c, c);
            yield return Linear("att.value.weight", TensorSlot.Value, c, c);
            yield return Linear("att.output.weight", TensorSlot.Output, c, c);
            yield return Vector("att.ln_x.weight", TensorSlot.LnXWeight);
            yield return Vector("att.ln_x.bias", TensorSlot.LnXBias);
            yield return Vector("ffn.x_k", TensorSlot.FfnMixK, mix);
            yield return Linear("ffn.key.weight", TensorSlot.FfnKey, shape.Ffn, c);
            yield return Linear("ffn.value.weight", TensorSlot.FfnValue, c, shape.Ffn);
        }

        yield return new("ln_out.weight", vec, TensorRole.Vector, TensorSlot.LnOutWeight);
        yield return new("ln_out.bias", vec, TensorRole.Vector, TensorSlot.LnOutBias);
        yield return new("head.weight", [shape.Vocab, c], TensorRole.Linear, TensorSlot.Head);
    }

    /// <summary>
    /// Tensors that may appear in a checkpoint although the model does not use them: layer 0's value-residual
    /// LoRA, which RWKV-LM training checkpoints carry (layer 0 defines v_first instead of mixing into it).
    /// </summary>
    public static bool IsIgnorable(string name) =>
        name is "blocks.0.att.v0" or "blocks.0.att.v1" or "blocks.0.att.v2";
}
