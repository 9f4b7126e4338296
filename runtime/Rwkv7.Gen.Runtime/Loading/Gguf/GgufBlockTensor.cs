using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Rwkv7.Gen.Loading.Gguf;

/// <summary>
/// A GGUF tensor of a block-quantized type (Q8_0, Q4_0, the k-quants, …), seen as canonical fp32 values: reading it
/// decodes the file's blocks exactly as ggml does and, for a LoRA factor, transposes the file's (out, in) rows into
/// the canonical (in, out) order. Matrices whose blocks match this engine's packed rows also hand them over unchanged
/// (<see cref="IBlockQuantizedTensor"/>).
/// </summary>
internal sealed class GgufBlockTensor : CheckpointTensor, IBlockQuantizedTensor
{
    /// <summary>Bytes of file data decoded at a time when reading in pieces.</summary>
    private const int ChunkBytes = 1 << 20;

    private readonly string _filePath;
    private readonly SafeFileHandle _handle;
    private readonly long _offset;
    private readonly GgmlType _type;
    private readonly int _storedRows;
    private readonly int _storedCols;
    private readonly long _storedRowBytes;
    private readonly bool _transposed;

    /// <param name="filePath">The file, for error messages.</param>
    /// <param name="handle">Open handle to read from.</param>
    /// <param name="name">Canonical name.</param>
    /// <param name="shape">Canonical shape: the stored (rows, cols) reshaped, or (cols, rows) when <paramref name="transposed"/>.</param>
    /// <param name="type">The stored block type.</param>
    /// <param name="offset">File offset of the first stored row, checked against the file size.</param>
    /// <param name="storedRows">Rows the file stores.</param>
    /// <param name="storedCols">Values per stored row (whole blocks).</param>
    /// <param name="transposed">Whether the canonical tensor is the transpose of the stored rows (LoRA factors).</param>
    public GgufBlockTensor(
        string filePath, SafeFileHandle handle, string name, int[] shape, GgmlType type, long offset, int storedRows, int storedCols, bool transposed)
        : base(name, shape, TensorDType.F32)
    {
        _filePath = filePath;
        _handle = handle;
        _offset = offset;
        _type = type;
        _storedRows = storedRows;
        _storedCols = storedCols;
        GgmlTypes.TryGetLayout(type, out int blockValues, out int blockBytes);
        _storedRowBytes = (long)storedCols / blockValues * blockBytes;
        _transposed = transposed;
    }

    /// <inheritdoc />
    public TensorDType NearestPackedType => GgmlTypes.NearestPacked(_type) ?? TensorDType.F32;

    /// <inheritdoc />
    public int ComputeRows => _storedRows;

    /// <inheritdoc />
    public int ComputeCols => _storedCols;

    /// <inheritdoc />
    public string StoredTypeName => GgmlTypes.Name(_type);

    /// <inheritdoc />
    public bool PacksExactly(TensorDType packed) => GgmlTypes.PacksExactly(_type, packed);

    /// <inheritdoc />
    public void ReadPackedRows(TensorDType packed, int firstRow, int rowCount, Span<byte> destination)
    {
        if (!PacksExactly(packed))
        {
            throw new InvalidOperationException($"{Name}: {StoredTypeName} rows do not convert exactly to {packed.DisplayName()}.");
        }

        int packedRowBytes = packed == TensorDType.Q4 ? Q4Block.RowBytes(_storedCols) : Q8Block.RowBytes(_storedCols);
        int chunkRows = ChunkRows(rowCount);
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)(chunkRows * _storedRowBytes));
        try
        {
            for (int first = firstRow; first < firstRow + rowCount; first += chunkRows)
            {
                int rows = Math.Min(chunkRows, firstRow + rowCount - first);
                ReadOnlySpan<byte> fileRows = ReadStoredRows(first, rows, buffer);
                for (int r = 0; r < rows; r++)
                {
                    GgmlBlocks.ToPackedRow(
                        _type, fileRows.Slice((int)(r * _storedRowBytes), (int)_storedRowBytes), packed,
                        destination.Slice((first - firstRow + r) * packedRowBytes, packedRowBytes), _storedCols);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    protected override void ReadCore(Span<byte> destination)
    {
        Span<float> values = MemoryMarshal.Cast<byte, float>(destination);
        if (!_transposed)
        {
            DecodeRows(0, _storedRows, values);
            return;
        }

        // Stored (out, in) rows → canonical (in, out): decode into a pooled buffer, then transpose.
        int count = values.Length;
        float[] stored = ArrayPool<float>.Shared.Rent(count);
        try
        {
            DecodeRows(0, _storedRows, stored.AsSpan(0, count));
            for (int r = 0; r < _storedRows; r++)
            {
                for (int c = 0; c < _storedCols; c++)
                {
                    values[(c * _storedRows) + r] = stored[(r * _storedCols) + c];
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(stored);
        }
    }

    protected override void ReadRowsCore(int firstRow, int rowCount, long rowBytes, Span<byte> destination)
    {
        if (_transposed || rowBytes != (long)_storedCols * sizeof(float))
        {
            base.ReadRowsCore(firstRow, rowCount, rowBytes, destination);
            return;
        }

        DecodeRows(firstRow, rowCount, MemoryMarshal.Cast<byte, float>(destination));
    }

    /// <summary>Decodes stored rows [first, first + count) into <paramref name="values"/>, a chunk at a time.</summary>
    private void DecodeRows(int firstRow, int rowCount, Span<float> values)
    {
        int chunkRows = ChunkRows(rowCount);
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)(chunkRows * _storedRowBytes));
        try
        {
            for (int first = firstRow; first < firstRow + rowCount; first += chunkRows)
            {
                int rows = Math.Min(chunkRows, firstRow + rowCount - first);
                GgmlBlocks.Dequantize(_type, ReadStoredRows(first, rows, buffer), values.Slice((first - firstRow) * _storedCols, rows * _storedCols));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Stored rows per chunk: about <see cref="ChunkBytes"/> of file data, at least one row, at most <paramref name="rowCount"/>.</summary>
    private int ChunkRows(int rowCount) => (int)Math.Clamp(ChunkBytes / _storedRowBytes, 1, Math.Max(1, rowCount));

    /// <summary>Reads stored rows [first, first + count) into the start of <paramref name="buffer"/>.</summary>
    private ReadOnlySpan<byte> ReadStoredRows(int first, int count, byte[] buffer)
    {
        Span<byte> bytes = buffer.AsSpan(0, (int)(count * _storedRowBytes));
        FileReading.ReadExactly(_filePath, _handle, bytes, _offset + (first * _storedRowBytes), Name);
        return bytes;
    }
}
