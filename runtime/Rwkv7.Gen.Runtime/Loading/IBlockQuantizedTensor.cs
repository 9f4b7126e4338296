namespace Rwkv7.Gen.Loading;

/// <summary>
/// A checkpoint matrix stored in blocks of 32 values with one scale each, the layout of this engine's packed 8- and
/// 4-bit rows (GGUF's Q8_0 and Q4_0): it can hand its rows over in that layout without requantizing, so that packing
/// keeps the file's values exactly. Its rows are those of the matrix as y = W·x uses it, (out, in): for a LoRA factor,
/// the transpose of the canonical (in, out) tensor. Such a tensor also reads as canonical fp32 values
/// (<see cref="CheckpointTensor.ReadTo"/>), for every other precision.
/// </summary>
internal interface IBlockQuantizedTensor
{
    /// <summary>
    /// The packed type nearest the stored one, which <c>--precision keep</c> packs it as: <see cref="TensorDType.Q8"/>
    /// for 5- to 8-bit types, <see cref="TensorDType.Q4"/> for 4-bit ones.
    /// </summary>
    TensorDType NearestPackedType { get; }

    /// <summary>Rows (outputs) of the matrix as y = W·x uses it.</summary>
    int ComputeRows { get; }

    /// <summary>Columns (inputs) of the matrix as y = W·x uses it.</summary>
    int ComputeCols { get; }

    /// <summary>What the file stores, for messages, e.g. <c>Q4_K</c>.</summary>
    string StoredTypeName { get; }

    /// <summary>Whether the rows convert to <paramref name="packed"/> (Q8 or Q4) without changing a value.</summary>
    bool PacksExactly(TensorDType packed);

    /// <summary>
    /// Writes rows [<paramref name="firstRow"/>, <paramref name="firstRow"/> + <paramref name="rowCount"/>) of the
    /// (out, in) matrix in <paramref name="packed"/>'s row layout (<see cref="Q8Block.RowBytes"/> or
    /// <see cref="Q4Block.RowBytes"/> bytes each) into <paramref name="destination"/>. <see cref="PacksExactly"/> must hold.
    /// </summary>
    void ReadPackedRows(TensorDType packed, int firstRow, int rowCount, Span<byte> destination);
}
