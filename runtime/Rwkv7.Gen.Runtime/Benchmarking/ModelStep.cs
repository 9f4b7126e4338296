namespace Rwkv7.Gen.Benchmarking;

/// <summary>
/// The steps of a generated model's forward pass, in the order a layer runs them (the output head last), then the
/// rounding of 8- and 4-bit products' inputs, which runs before each such product. Each is one dispatch to the worker
/// pool: the matrix steps stream weights, the others work on rows or heads.
/// </summary>
public enum ModelStep
{
    /// <summary>LayerNorm before the time mix (ln1) and before the channel mix (ln2).</summary>
    LayerNorm,

    /// <summary>The time mix's token shift: the six mixed inputs of r, w, k, v, a and g.</summary>
    TimeMixInputs,

    /// <summary>The channel mix's token shift.</summary>
    ChannelMixInputs,

    /// <summary>Per head: value residual, key preparation, the WKV state update and GroupNorm with bonus and gate.</summary>
    Heads,

    /// <summary>The receptance, key and value products and the four LoRA MLPs (decay, in-context rate, gate, value).</summary>
    Projections,

    /// <summary>The time mix's output product, added to the residual stream.</summary>
    Output,

    /// <summary>The FFN key product with ReLU².</summary>
    FfnKey,

    /// <summary>The FFN value product, added to the residual stream.</summary>
    FfnValue,

    /// <summary>The output head: logits of the rows asked for.</summary>
    Head,

    /// <summary>
    /// Before a product of 8- or 4-bit weights on 16-bit inputs: its input rows rounded to 16 bits and, for 4-bit weights,
    /// to 8 bits and arranged, once for all of the product's parts (split by rows when there are enough of them).
    /// </summary>
    InputRounding,
}
