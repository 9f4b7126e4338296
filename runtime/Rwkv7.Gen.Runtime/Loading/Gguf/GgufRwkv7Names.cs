namespace Rwkv7.Gen.Loading.Gguf;

/// <summary>How a GGUF tensor of the <c>rwkv7</c> architecture becomes canonical RWKV-LM tensors.</summary>
internal enum GgufChange
{
    /// <summary>Same values, same row-major order; PyTorch shape = GGUF dims reversed.</summary>
    None,

    /// <summary>A vector stored as [C]: reshaped to (1, 1, C) (token-shift mixes, w0/a0/v0, k_k, k_a, ffn.x_k).</summary>
    MixVector,

    /// <summary>A vector stored as [C] whose canonical shape is (C,) (LayerNorm and GroupNorm parameters).</summary>
    PlainVector,

    /// <summary><c>time_mix_r_k</c> [C] → <c>att.r_k</c> (H, head size), head-major.</summary>
    PerHead,

    /// <summary>A LoRA factor: the file stores the (out, in) rows y = W·x reads; canonical is the transpose.</summary>
    Transposed,

    /// <summary><c>time_mix_lerp_fused</c> [C, 1, 1, 6]: six rows of C, split into x_r, x_w, x_k, x_v, x_a, x_g.</summary>
    FusedShift,

    /// <summary>Layer 0's value-residual placeholders, which llama.cpp's converter writes but RWKV-7 never uses: dropped.</summary>
    Placeholder,
}

/// <summary>
/// The tensor names llama.cpp gives RWKV-7 (<c>rwkv7</c> architecture) and the canonical names, shapes and changes
/// they map to (the fixtures README, "GGUF", lists them). Also used in reverse by the GGUF writer.
/// </summary>
internal static class GgufRwkv7Names
{
    public const string Architecture = "rwkv7";
    public const string BlockPrefix = "blk.";
    public const string FusedShift = "time_mix_lerp_fused.weight";

    /// <summary>Tensors outside the blocks: GGUF name → (canonical name, change).</summary>
    public static readonly (string Gguf, string Canonical, GgufChange Change)[] Global =
    [
        ("token_embd.weight", "emb.weight", GgufChange.None),
        ("token_embd_norm.weight", "blocks.0.ln0.weight", GgufChange.PlainVector),
        ("token_embd_norm.bias", "blocks.0.ln0.bias", GgufChange.PlainVector),
        ("output_norm.weight", "ln_out.weight", GgufChange.PlainVector),
        ("output_norm.bias", "ln_out.bias", GgufChange.PlainVector),
        ("output.weight", "head.weight", GgufChange.None),
    ];

    /// <summary>
    /// Tensors of block i, in the order llama.cpp's converter writes them: GGUF suffix after <c>blk.i.</c> →
    /// (canonical suffix after <c>blocks.i.</c>, change).
    /// </summary>
    public static readonly (string Gguf, string Canonical, GgufChange Change)[] PerBlock =
    [
        ("attn_norm.weight", "ln1.weight", GgufChange.PlainVector),
        ("attn_norm.bias", "ln1.bias", GgufChange.PlainVector),
        ("attn_norm_2.weight", "ln2.weight", GgufChange.PlainVector),
        ("attn_norm_2.bias", "ln2.bias", GgufChange.PlainVector),
        (FusedShift, "att.x_", GgufChange.FusedShift),
        ("time_mix_w0.weight", "att.w0", GgufChange.MixVector),
        ("time_mix_w1.weight", "att.w1", GgufChange.Transposed),
        ("time_mix_w2.weight", "att.w2", GgufChange.Transposed),
        ("time_mix_a0.weight", "att.a0", GgufChange.MixVector),
        ("time_mix_a1.weight", "att.a1", GgufChange.Transposed),
        ("time_mix_a2.weight", "att.a2", GgufChange.Transposed),
        ("time_mix_v0.weight", "att.v0", GgufChange.MixVector),
        ("time_mix_v1.weight", "att.v1", GgufChange.Transposed),
        ("time_mix_v2.weight", "att.v2", GgufChange.Transposed),
        ("time_mix_g1.weight", "att.g1", GgufChange.Transposed),
        ("time_mix_g2.weight", "att.g2", GgufChange.Transposed),
        ("time_mix_k_k.weight", "att.k_k", GgufChange.MixVector),
        ("time_mix_k_a.weight", "att.k_a", GgufChange.MixVector),
        ("time_mix_r_k.weight", "att.r_k", GgufChange.PerHead),
        ("time_mix_receptance.weight", "att.receptance.weight", GgufChange.None),
        ("time_mix_key.weight", "att.key.weight", GgufChange.None),
        ("time_mix_value.weight", "att.value.weight", GgufChange.None),
        ("time_mix_output.weight", "att.output.weight", GgufChange.None),
        ("time_mix_ln.weight", "att.ln_x.weight", GgufChange.PlainVector),
        ("time_mix_ln.bias", "att.ln_x.bias", GgufChange.PlainVector),
        ("channel_mix_lerp_k.weight", "ffn.x_k", GgufChange.MixVector),
        ("channel_mix_key.weight", "ffn.key.weight", GgufChange.None),
        ("channel_mix_value.weight", "ffn.value.weight", GgufChange.None),
    ];

    /// <summary>Layer 0's value-residual tensors, which the converter fills with copies of a0/a1/a2 for llama.cpp's loader.</summary>
    public static readonly string[] Layer0Placeholders = ["time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight"];

    /// <summary>
    /// The canonical name and change of a GGUF tensor, with its block index (−1 outside the blocks); false for names
    /// the architecture does not have.
    /// </summary>
    public static bool TryMap(string gguf, out string canonical, out GgufChange change, out int block)
    {
        block = -1;
        foreach ((string g, string c, GgufChange ch) in Global)
        {
            if (g == gguf)
            {
                (canonical, change) = (c, ch);
                return true;
            }
        }

        (canonical, change) = (string.Empty, GgufChange.None);
        if (!gguf.StartsWith(BlockPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        int dot = gguf.IndexOf('.', BlockPrefix.Length);
        if (dot <= BlockPrefix.Length
            || !int.TryParse(gguf.AsSpan(BlockPrefix.Length, dot - BlockPrefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out block)
            || block.ToString(System.Globalization.CultureInfo.InvariantCulture).Length != dot - BlockPrefix.Length)
        {
            block = -1;
            return false;
        }

        string suffix = gguf[(dot + 1)..];
        foreach ((string g, string c, GgufChange ch) in PerBlock)
        {
            if (g == suffix)
            {
                canonical = $"blocks.{block}.{c}";
                change = block == 0 && Array.IndexOf(Layer0Placeholders, g) >= 0 ? GgufChange.Placeholder : ch;
                return true;
            }
        }

        block = -1;
        return false;
    }
}
