namespace Rwkv7.Gen.Benchmarking;

/// <summary>
/// The steps of a generated model's forward pass, in the order a layer runs them (the output head last). Each is one
/// dispatch to the worker pool: the matrix steps stream weights, the others work on rows or heads.
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
}
