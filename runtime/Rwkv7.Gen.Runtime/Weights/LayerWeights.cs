namespace Rwkv7.Gen.Weights;

/// <summary>
/// One block's parameters in compute layout. Vectors are fp32, length D (r_k is flattened head by head).
/// Matrices are (out, in): the four linear layers and the FFN as stored, the LoRA factors transposed from
/// their canonical (in, out) so that every product is a row-major matrix–vector product.
/// </summary>
public sealed class LayerWeights
{
    internal LayerWeights(int index)
    {
        Index = index;
    }

    /// <summary>Block index.</summary>
    public int Index { get; }

    /// <summary>ln1 scale and bias (before the time mix).</summary>
    public float[] Ln1Weight { get; internal set; } = [];

    /// <inheritdoc cref="Ln1Weight"/>
    public float[] Ln1Bias { get; internal set; } = [];

    /// <summary>ln2 scale and bias (before the channel mix).</summary>
    public float[] Ln2Weight { get; internal set; } = [];

    /// <inheritdoc cref="Ln2Weight"/>
    public float[] Ln2Bias { get; internal set; } = [];

    /// <summary>Token-shift mix coefficients of the time mix: x_r, x_w, x_k, x_v, x_a, x_g.</summary>
    public float[] MixR { get; internal set; } = [];

    /// <inheritdoc cref="MixR"/>
    public float[] MixW { get; internal set; } = [];

    /// <inheritdoc cref="MixR"/>
    public float[] MixK { get; internal set; } = [];

    /// <inheritdoc cref="MixR"/>
    public float[] MixV { get; internal set; } = [];

    /// <inheritdoc cref="MixR"/>
    public float[] MixA { get; internal set; } = [];

    /// <inheritdoc cref="MixR"/>
    public float[] MixG { get; internal set; } = [];

    /// <summary>Decay bias w0 (raw) and the decay LoRA: W1 (rank × D), W2 (D × rank).</summary>
    public float[] DecayBias { get; internal set; } = [];

    /// <inheritdoc cref="DecayBias"/>
    public WeightMatrix DecayDown { get; internal set; }

    /// <inheritdoc cref="DecayBias"/>
    public WeightMatrix DecayUp { get; internal set; }

    /// <summary>In-context learning rate bias a0 and LoRA A1 (rank × D), A2 (D × rank).</summary>
    public float[] IclrBias { get; internal set; } = [];

    /// <inheritdoc cref="IclrBias"/>
    public WeightMatrix IclrDown { get; internal set; }

    /// <inheritdoc cref="IclrBias"/>
    public WeightMatrix IclrUp { get; internal set; }

    /// <summary>Value-residual bias v0 and LoRA V1 (rank × D), V2 (D × rank); absent (empty) in layer 0.</summary>
    public float[] ValueBias { get; internal set; } = [];

    /// <inheritdoc cref="ValueBias"/>
    public WeightMatrix ValueDown { get; internal set; }

    /// <inheritdoc cref="ValueBias"/>
    public WeightMatrix ValueUp { get; internal set; }

    /// <summary>Output gate LoRA G1 (rank × D), G2 (D × rank); no bias.</summary>
    public WeightMatrix GateDown { get; internal set; }

    /// <inheritdoc cref="GateDown"/>
    public WeightMatrix GateUp { get; internal set; }

    /// <summary>k_k (key normalization scale for the removal key) and k_a (ICLR key blend).</summary>
    public float[] KeyK { get; internal set; } = [];

    /// <inheritdoc cref="KeyK"/>
    public float[] KeyA { get; internal set; } = [];

    /// <summary>r_k, the per-head bonus weights, flattened to D.</summary>
    public float[] BonusRK { get; internal set; } = [];

    /// <summary>Receptance, key, value and output projections, D × D.</summary>
    public WeightMatrix Receptance { get; internal set; }

    /// <inheritdoc cref="Receptance"/>
    public WeightMatrix Key { get; internal set; }

    /// <inheritdoc cref="Receptance"/>
    public WeightMatrix Value { get; internal set; }

    /// <inheritdoc cref="Receptance"/>
    public WeightMatrix Output { get; internal set; }

    /// <summary>GroupNorm (ln_x) scale and bias applied per head to the WKV output.</summary>
    public float[] LnXWeight { get; internal set; } = [];

    /// <inheritdoc cref="LnXWeight"/>
    public float[] LnXBias { get; internal set; } = [];

    /// <summary>Channel-mix token-shift coefficient.</summary>
    public float[] FfnMixK { get; internal set; } = [];

    /// <summary>Channel-mix key (FFN × D) and value (D × FFN).</summary>
    public WeightMatrix FfnKey { get; internal set; }

    /// <inheritdoc cref="FfnKey"/>
    public WeightMatrix FfnValue { get; internal set; }
}
