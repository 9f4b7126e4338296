namespace Rwkv7.Gen;

/// <summary>
/// The numbers that fix the size of an RWKV-7 model: depth, widths and the four LoRA ranks.
/// </summary>
/// <remarks>
/// Everything else (heads, parameter count, state size) follows from these. Head size is 64 for every
/// released model and the only one the engines support; the FFN width is 4·D for released models but is
/// taken from the checkpoint, never assumed.
/// </remarks>
/// <param name="Layers">Number of blocks, L.</param>
/// <param name="Embedding">Embedding width, D (n_embd, C in the reference code).</param>
/// <param name="HeadSize">Channels per head, N (always 64).</param>
/// <param name="Vocab">Vocabulary size, V.</param>
/// <param name="Ffn">Channel-mix hidden width (4·D for released models).</param>
/// <param name="DecayRank">Rank of the decay LoRA (<c>att.w1</c>/<c>att.w2</c>).</param>
/// <param name="IclrRank">Rank of the in-context learning rate LoRA (<c>att.a1</c>/<c>att.a2</c>).</param>
/// <param name="ValueRank">Rank of the value-residual LoRA (<c>att.v1</c>/<c>att.v2</c>).</param>
/// <param name="GateRank">Rank of the output gate LoRA (<c>att.g1</c>/<c>att.g2</c>).</param>
public sealed record ModelShape(
    int Layers,
    int Embedding,
    int HeadSize,
    int Vocab,
    int Ffn,
    int DecayRank,
    int IclrRank,
    int ValueRank,
    int GateRank)
{
    /// <summary>The only head size the engines run.</summary>
    public const int SupportedHeadSize = ModelMath.HeadSize;

    /// <summary>Number of heads, H = D / N.</summary>
    public int Heads => Embedding / HeadSize;

    /// <summary>Floats in one layer's state: two token-shift vectors and H state matrices of N×N.</summary>
    public int StateFloatsPerLayer => (2 * Embedding) + (Heads * HeadSize * HeadSize);

    /// <summary>Parameters of one block, counting the value-residual LoRA only for blocks after the first.</summary>
    public long BlockParameters(int layer)
    {
        long d = Embedding;
        long vectors = (4 * d) /* ln1, ln2 */ + (6 * d) /* x_r..x_g */ + (3 * d) /* w0, a0, k_k */ + (2 * d) /* k_a, ln_x.w */
            + d /* ln_x.b */ + d /* r_k = H×N */ + d /* ffn.x_k */;
        long lora = (2 * d * DecayRank) + (2 * d * IclrRank) + (2 * d * GateRank);
        if (layer > 0)
        {
            vectors += d; // v0
            lora += 2 * d * ValueRank;
        }

        long linear = (4 * d * d) + (2 * d * Ffn);
        return vectors + lora + linear;
    }

    /// <summary>Total parameters: embedding, ln0, every block, ln_out and head.</summary>
    public long ParameterCount
    {
        get
        {
            long total = ((long)Vocab * Embedding * 2) + (2L * Embedding) /* ln0 */ + (2L * Embedding) /* ln_out */;
            for (int i = 0; i < Layers; i++)
            {
                total += BlockParameters(i);
            }

            return total;
        }
    }

    /// <summary>
    /// Whether two shapes can share the same specialized kernels: every per-layer width must agree, while
    /// depth and vocabulary are only loop bounds.
    /// </summary>
    public bool HasSameLayerWidths(ModelShape other) =>
        Embedding == other.Embedding && HeadSize == other.HeadSize && Ffn == other.Ffn
        && DecayRank == other.DecayRank && IclrRank == other.IclrRank
        && ValueRank == other.ValueRank && GateRank == other.GateRank;

    /// <inheritdoc />
    public override string ToString() =>
        $"L{Layers} D{Embedding} H{Heads}x{HeadSize} V{Vocab} FFN{Ffn} ranks w{DecayRank}/a{IclrRank}/v{ValueRank}/g{GateRank}";
}
