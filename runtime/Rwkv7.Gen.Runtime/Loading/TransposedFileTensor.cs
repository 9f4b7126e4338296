using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Rwkv7.Gen.Loading;

/// <summary>
/// A 2-D tensor whose file region holds its transpose: rwkv.cpp stores the v7 LoRA factors transposed, so the
/// file's (rows, cols) block is read and turned into the canonical (cols, rows) row-major order.
/// </summary>
internal sealed class TransposedFileTensor : CheckpointTensor
{
    private readonly string _filePath;
    private readonly SafeFileHandle _handle;
    private readonly long _offset;
    private readonly int _storedRows;
    private readonly int _storedCols;

    /// <param name="filePath">The file, for error messages.</param>
    /// <param name="handle">Open handle to read from.</param>
    /// <param name="name">Canonical name.</param>
    /// <param name="storedShape">The region's (rows, cols) as stored; the tensor's shape is (cols, rows).</param>
    /// <param name="dtype">Element type.</param>
    /// <param name="offset">File offset of the region, checked against the file size.</param>
    public TransposedFileTensor(string filePath, SafeFileHandle handle, string name, int[] storedShape, TensorDType dtype, long offset)
        : base(name, [storedShape[1], storedShape[0]], dtype)
    {
        _filePath = filePath;
        _handle = handle;
        _offset = offset;
        _storedRows = storedShape[0];
        _storedCols = storedShape[1];
    }

    protected override void ReadCore(Span<byte> destination)
    {
        int length = destination.Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Span<byte> stored = buffer.AsSpan(0, length);
            FileReading.ReadExactly(_filePath, _handle, stored, _offset, Name);
            if (DType.SizeInBytes() == sizeof(float))
            {
                Transpose(MemoryMarshal.Cast<byte, uint>(stored), MemoryMarshal.Cast<byte, uint>(destination));
            }
            else
            {
                Transpose(MemoryMarshal.Cast<byte, ushort>(stored), MemoryMarshal.Cast<byte, ushort>(destination));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // source: [storedRows, storedCols] → destination: [storedCols, storedRows]
    private void Transpose<T>(ReadOnlySpan<T> source, Span<T> destination)
        where T : unmanaged
    {
        for (int r = 0; r < _storedRows; r++)
        {
            ReadOnlySpan<T> row = source.Slice(r * _storedCols, _storedCols);
            for (int c = 0; c < _storedCols; c++)
            {
                destination[(c * _storedRows) + r] = row[c];
            }
        }
    }
}
