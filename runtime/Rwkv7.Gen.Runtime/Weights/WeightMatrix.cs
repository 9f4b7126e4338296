using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// A packed weight matrix in compute layout: <see cref="Rows"/> outputs by <see cref="Cols"/> inputs, row-major,
/// so that y = W·x reads each row contiguously. Elements keep the checkpoint's precision. The memory belongs to
/// the <see cref="RwkvWeights"/> it came from. A <see cref="TensorDType.Q8"/> row is its int8 values followed by its
/// block scales (<see cref="Q8RowStride"/>), so a product reads one stream per row tile, not two; a
/// <see cref="TensorDType.Q4"/> row likewise holds its packed 4-bit values, then its scales (<see cref="Q4RowStride"/>).
/// </summary>
public readonly unsafe struct WeightMatrix
{
    private readonly byte* _data;

    internal WeightMatrix(byte* data, int rows, int cols, TensorDType type)
    {
        _data = data;
        Rows = rows;
        Cols = cols;
        Type = type;
    }

    /// <summary>Number of outputs.</summary>
    public int Rows { get; }

    /// <summary>Number of inputs (row length).</summary>
    public int Cols { get; }

    /// <summary>Element type.</summary>
    public TensorDType Type { get; }

    /// <summary>True for the default value (a matrix the model does not have, such as layer 0's value LoRA).</summary>
    public bool IsEmpty => _data == null;

    /// <summary>Address of the first element (64-byte aligned).</summary>
    public nint Address => (nint)_data;

    /// <summary>Bytes occupied (for Q8 and Q4: the packed values plus the block scales).</summary>
    public long ByteLength => Type switch
    {
        TensorDType.Q8 => (long)Rows * Q8RowStride,
        TensorDType.Q4 => (long)Rows * Q4RowStride,
        _ => (long)Rows * Cols * Type.SizeInBytes(),
    };

    /// <summary>
    /// Bytes from one row of a Q8 matrix to the next: the row's <see cref="Cols"/> int8 values, then its
    /// <see cref="Cols"/> / <see cref="Q8Block.Size"/> fp32 block scales. Kept beside their values, the scales arrive in
    /// the same stream: in a separate array they cost 8-bit decode ~10% (docs/benchmarks.md, change 28).
    /// </summary>
    public int Q8RowStride => Q8Block.RowBytes(Cols);

    /// <summary>
    /// Bytes from one row of a Q4 matrix to the next: the row's <see cref="Cols"/> / 2 bytes of 4-bit values, then its
    /// <see cref="Cols"/> / <see cref="Q4Block.Size"/> fp32 block scales.
    /// </summary>
    public int Q4RowStride => Q4Block.RowBytes(Cols);

    /// <summary>Row <paramref name="row"/> of an fp32 matrix.</summary>
    public ReadOnlySpan<float> RowF32(int row)
    {
        CheckRow(row, TensorDType.F32);
        return new ReadOnlySpan<float>(_data + ((long)row * Cols * sizeof(float)), Cols);
    }

    /// <summary>Row <paramref name="row"/> of a bf16 matrix, as raw 16-bit patterns.</summary>
    public ReadOnlySpan<ushort> RowBF16(int row)
    {
        CheckRow(row, TensorDType.BF16);
        return new ReadOnlySpan<ushort>(_data + ((long)row * Cols * sizeof(ushort)), Cols);
    }

    /// <summary>Row <paramref name="row"/> of an fp16 matrix.</summary>
    public ReadOnlySpan<Half> RowF16(int row)
    {
        CheckRow(row, TensorDType.F16);
        return new ReadOnlySpan<Half>(_data + ((long)row * Cols * sizeof(Half)), Cols);
    }

    /// <summary>The whole fp32 matrix, row-major (for kernels).</summary>
    public ReadOnlySpan<float> AsF32Span()
    {
        CheckType(TensorDType.F32);
        return new ReadOnlySpan<float>(_data, checked(Rows * Cols));
    }

    /// <summary>The whole bf16 matrix as raw 16-bit patterns, row-major (for kernels).</summary>
    public ReadOnlySpan<ushort> AsBF16Span()
    {
        CheckType(TensorDType.BF16);
        return new ReadOnlySpan<ushort>(_data, checked(Rows * Cols));
    }

    /// <summary>The whole fp16 matrix, row-major (for kernels).</summary>
    public ReadOnlySpan<Half> AsF16Span()
    {
        CheckType(TensorDType.F16);
        return new ReadOnlySpan<Half>(_data, checked(Rows * Cols));
    }

    /// <summary>
    /// The whole Q8 matrix as bytes, <see cref="Rows"/> rows of <see cref="Q8RowStride"/>: each row's int8 values, then
    /// its fp32 block scales (for kernels).
    /// </summary>
    public ReadOnlySpan<sbyte> AsQ8Span()
    {
        CheckType(TensorDType.Q8);
        return new ReadOnlySpan<sbyte>(_data, checked(Rows * Q8RowStride));
    }

    /// <summary>The int8 values of row <paramref name="row"/> of a Q8 matrix.</summary>
    public ReadOnlySpan<sbyte> Q8RowValues(int row)
    {
        CheckRow(row, TensorDType.Q8);
        return new ReadOnlySpan<sbyte>(_data + ((long)row * Q8RowStride), Cols);
    }

    /// <summary>The block scales of row <paramref name="row"/> of a Q8 matrix, one per <see cref="Q8Block.Size"/> values.</summary>
    public ReadOnlySpan<float> Q8RowScales(int row)
    {
        CheckRow(row, TensorDType.Q8);
        return new ReadOnlySpan<float>(_data + ((long)row * Q8RowStride) + Cols, Cols / Q8Block.Size);
    }

    /// <summary>
    /// The whole Q4 matrix as bytes, <see cref="Rows"/> rows of <see cref="Q4RowStride"/>: each row's packed values,
    /// then its fp32 block scales (for kernels).
    /// </summary>
    public ReadOnlySpan<byte> AsQ4Span()
    {
        CheckType(TensorDType.Q4);
        return new ReadOnlySpan<byte>(_data, checked(Rows * Q4RowStride));
    }

    /// <summary>The packed 4-bit values of row <paramref name="row"/> of a Q4 matrix (<see cref="Q4Quantizer"/>'s layout).</summary>
    public ReadOnlySpan<byte> Q4RowValues(int row)
    {
        CheckRow(row, TensorDType.Q4);
        return new ReadOnlySpan<byte>(_data + ((long)row * Q4RowStride), Cols / 2);
    }

    /// <summary>The block scales of row <paramref name="row"/> of a Q4 matrix, one per <see cref="Q4Block.Size"/> values.</summary>
    public ReadOnlySpan<float> Q4RowScales(int row)
    {
        CheckRow(row, TensorDType.Q4);
        return new ReadOnlySpan<float>(_data + ((long)row * Q4RowStride) + (Cols / 2), Cols / Q4Block.Size);
    }

    /// <summary>Converts row <paramref name="row"/> to fp32, whatever the stored type.</summary>
    public void ReadRow(int row, Span<float> destination)
    {
        switch (Type)
        {
            case TensorDType.F32:
                RowF32(row).CopyTo(destination);
                break;
            case TensorDType.BF16:
                BFloat16Conversions.ToSingle(RowBF16(row), destination);
                break;
            case TensorDType.F16:
                HalfConversions.ToSingle(RowF16(row), destination);
                break;
            case TensorDType.Q8:
                Q8Quantizer.DequantizeRow(Q8RowValues(row), Q8RowScales(row), destination);
                break;
            case TensorDType.Q4:
                Q4Quantizer.DequantizeRow(Q4RowValues(row), Q4RowScales(row), destination[..Cols]);
                break;
            default:
                throw new InvalidOperationException($"Unknown weight type {Type}.");
        }
    }

    private void CheckType(TensorDType expected)
    {
        if (Type != expected)
        {
            throw new InvalidOperationException($"Matrix holds {Type.DisplayName()}, not {expected.DisplayName()}.");
        }
    }

    private void CheckRow(int row, TensorDType expected)
    {
        CheckType(expected);

        if ((uint)row >= (uint)Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(row), row, $"Matrix has {Rows} rows.");
        }
    }
}
