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

/// <summary>A tensor a model of a given shape must contain, with its canonical name and PyTorch dimensions.</summary>
/// <param name="Name">RWKV-LM state_dict key.</param>
/// <param name="Shape">Dimensions, outermost first.</param>
/// <param name="Role">How the tensor is used.</param>
public sealed record CanonicalTensor(string Name, int[] Shape, TensorRole Role)
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

    /// <summary>Every tensor a model of <paramref name="shape"/> holds (layer 0 without the value-residual LoRA).</summary>
    public static IEnumerable<CanonicalTensor> For(ModelShape shape)
    {
        int c = shape.Embedding;
        int[] vec = [c];
        int[] mix = [1, 1, c];
        yield return new("emb.weight", [shape.Vocab, c], TensorRole.Linear);
        for (int i = 0; i < shape.Layers; i++)
        {
            string b = $"blocks.{i}.";
            yield return new(b + "ln1.weight", vec, TensorRole.Vector);
            yield return new(b + "ln1.bias", vec, TensorRole.Vector);
            yield return new(b + "ln2.weight", vec, TensorRole.Vector);
            yield return new(b + "ln2.bias", vec, TensorRole.Vector);
            if (i == 0)
            {
                yield return new(b + "ln0.weight", vec, TensorRole.Vector);
                yield return new(b + "ln0.bias", vec, TensorRole.Vector);
            }

            foreach (string m in TimeMixShiftNames)
            {
                yield return new(b + "att." + m, mix, TensorRole.Vector);
            }

            yield return new(b + "att.w1", [c, shape.DecayRank], TensorRole.LoraFactor);
            yield return new(b + "att.w2", [shape.DecayRank, c], TensorRole.LoraFactor);
            yield return new(b + "att.w0", mix, TensorRole.Vector);
            yield return new(b + "att.a1", [c, shape.IclrRank], TensorRole.LoraFactor);
            yield return new(b + "att.a2", [shape.IclrRank, c], TensorRole.LoraFactor);
            yield return new(b + "att.a0", mix, TensorRole.Vector);
            if (i > 0)
            {
                yield return new(b + "att.v1", [c, shape.ValueRank], TensorRole.LoraFactor);
                yield return new(b + "att.v2", [shape.ValueRank, c], TensorRole.LoraFactor);
                yield return new(b + "att.v0", mix, TensorRole.Vector);
            }

            yield return new(b + "att.g1", [c, shape.GateRank], TensorRole.LoraFactor);
            yield return new(b + "att.g2", [shape.GateRank, c], TensorRole.LoraFactor);
            yield return new(b + "att.k_k", mix, TensorRole.Vector);
            yield return new(b + "att.k_a", mix, TensorRole.Vector);
            yield return new(b + "att.r_k", [shape.Heads, shape.HeadSize], TensorRole.Vector);
            yield return new(b + "att.receptance.weight", [c, c], TensorRole.Linear);
            yield return new(b + "att.key.weight", [c, c], TensorRole.Linear);
            yield return new(b + "att.value.weight", [c, c], TensorRole.Linear);
            yield return new(b + "att.output.weight", [c, c], TensorRole.Linear);
            yield return new(b + "att.ln_x.weight", vec, TensorRole.Vector);
            yield return new(b + "att.ln_x.bias", vec, TensorRole.Vector);
            yield return new(b + "ffn.x_k", mix, TensorRole.Vector);
            yield return new(b + "ffn.key.weight", [shape.Ffn, c], TensorRole.Linear);
            yield return new(b + "ffn.value.weight", [c, shape.Ffn], TensorRole.Linear);
        }

        yield return new("ln_out.weight", vec, TensorRole.Vector);
        yield return new("ln_out.bias", vec, TensorRole.Vector);
        yield return new("head.weight", [shape.Vocab, c], TensorRole.Linear);
    }

    /// <summary>
    /// Tensors that may appear in a checkpoint although the model does not use them: layer 0's value-residual
    /// LoRA, which RWKV-LM training checkpoints carry (layer 0 defines v_first instead of mixing into it).
    /// </summary>
    public static bool IsIgnorable(string name) =>
        name is "blocks.0.att.v0" or "blocks.0.att.v1" or "blocks.0.att.v2";
}
