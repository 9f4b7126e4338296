using Microsoft.Win32.SafeHandles;

namespace Rwkv7.Gen.Loading;

/// <summary>
/// A tensor stored contiguously, little-endian and row-major at a known offset of a file: how .pth storages and
/// safetensors data are laid out. The offset and length have been checked against the file size.
/// </summary>
internal sealed class FileRegionTensor : CheckpointTensor
{
    private readonly string _filePath;
    private readonly SafeFileHandle _handle;
    private readonly long _offset;

    public FileRegionTensor(string filePath, SafeFileHandle handle, string name, int[] shape, TensorDType dtype, long offset)
        : base(name, shape, dtype)
    {
        _filePath = filePath;
        _handle = handle;
        _offset = offset;
    }

    /// <summary>Byte offset of the first element in the file.</summary>
    public long Offset => _offset;

    protected override void ReadCore(Span<byte> destination) =>
        FileReading.ReadExactly(_filePath, _handle, destination, _offset, Name);

    protected override void ReadRowsCore(int firstRow, int rowCount, long rowBytes, Span<byte> destination) =>
        FileReading.ReadExactly(_filePath, _handle, destination, _offset + (firstRow * rowBytes), Name);
}

/// <summary>Reading helpers that turn short reads into <see cref="RwkvFormatException"/>.</summary>
internal static class FileReading
{
    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>, or reports a truncated file.</summary>
    public static void ReadExactly(string path, SafeFileHandle handle, Span<byte> destination, long offset, string what)
    {
        long position = offset;
        while (!destination.IsEmpty)
        {
            int n;
            try
            {
                n = RandomAccess.Read(handle, destination, position);
            }
            catch (IOException e)
            {
                throw new RwkvFormatException(path, $"could not read {what}: {e.Message}", position, e);
            }

            if (n == 0)
            {
                throw new RwkvFormatException(path, $"file ends inside {what}", position);
            }

            destination = destination[n..];
            position += n;
        }
    }
}
