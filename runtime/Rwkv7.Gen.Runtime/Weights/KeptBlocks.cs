using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// Packing of block-quantized checkpoint matrices (GGUF Q8_0, Q4_0, k-quants): which packed type each becomes, and the
/// copy of blocks that already have this engine's 8- or 4-bit row layout, so that their values are kept exactly
/// instead of being decoded and quantized again.
/// </summary>
internal static unsafe class KeptBlocks
{
    /// <summary>
    /// The packed type a block-quantized matrix keeps when no precision is asked for: the nearest this engine runs
    /// (<see cref="IBlockQuantizedTensor.NearestPackedType"/>), except that LoRA factors take 8 bits where the file has 4,
    /// as they do under <c>--precision q4</c> (the generated models have 8-bit LoRA kernels, no 4-bit ones). A Q4_0
    /// factor converts to 8 bits exactly.
    /// </summary>
    public static TensorDType KeepType(CanonicalTensor tensor, IBlockQuantizedTensor blocks) =>
        blocks.NearestPackedType == TensorDType.Q4 && tensor.Role == TensorRole.LoraFactor ? TensorDType.Q8 : blocks.NearestPackedType;

    /// <summary>
    /// The packed type of a block-quantized embedding table when 8 or 4 bits are asked for (a plain table keeps its
    /// type): its own blocks when they pack exactly, otherwise the type asked for, so that a Q4_K table asked for in
    /// 8 bits is not rounded to 4 bits again.
    /// </summary>
    public static TensorDType EmbeddingType(CanonicalTensor tensor, IBlockQuantizedTensor blocks, TensorDType requested) =>
        KeepType(tensor, blocks) is var kept && blocks.PacksExactly(kept) ? kept : requested;

    /// <summary>
    /// Copies the file's blocks into <paramref name="slot"/> as a <paramref name="target"/> matrix when they convert
    /// without changing a value (<see cref="IBlockQuantizedTensor.PacksExactly"/>); false leaves packing to decode and
    /// quantize. The file's rows are the matrix as y = W·x uses it, which is how the arena stores every matrix.
    /// </summary>
    public static bool TryPack(ITensorSource source, CanonicalTensor tensor, TensorDType target, byte* slot, out WeightMatrix matrix)
    {
        matrix = default;
        if (target is not (TensorDType.Q8 or TensorDType.Q4) || source.BlocksOf(tensor) is not { } blocks || !blocks.PacksExactly(target))
        {
            return false;
        }

        // Linear matrices are canonical (out, in); LoRA factors canonical (in, out), stored and packed (out, in).
        (int rows, int cols) = tensor.Role == TensorRole.LoraFactor ? (tensor.Shape[1], tensor.Shape[0]) : (tensor.Shape[0], tensor.Shape[1]);
        if (blocks.ComputeRows != rows || blocks.ComputeCols != cols)
        {
            throw new InvalidOperationException($"{tensor.Name}: stored blocks are {blocks.ComputeRows} × {blocks.ComputeCols}, the matrix {rows} × {cols}.");
        }

        long bytes = (long)rows * (target == TensorDType.Q4 ? Q4Block.RowBytes(cols) : Q8Block.RowBytes(cols));
        blocks.ReadPackedRows(target, 0, rows, new Span<byte>(slot, checked((int)bytes)));
        matrix = new WeightMatrix(slot, rows, cols, target);
        return true;
    }
}
