using System.Runtime.InteropServices;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// A block of unmanaged memory aligned to a cache line, for weights that may exceed the 2 GB limit of managed
/// arrays and must not be moved by the GC.
/// </summary>
internal sealed unsafe class NativeBuffer : IDisposable
{
    /// <summary>Alignment of every buffer and of every matrix placed in one (a cache line, one 512-bit vector).</summary>
    public const int Alignment = 64;

    private byte* _pointer;

    public NativeBuffer(long byteLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLength);
        Length = byteLength;
        _pointer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(byteLength, 1), Alignment);
        NativeMemory.Clear(_pointer, (nuint)Math.Max(byteLength, 1));
        GC.AddMemoryPressure(Math.Max(byteLength, 1));
    }

    ~NativeBuffer() => Free();

    public long Length { get; }

    public byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == null, this);
            return _pointer;
        }
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        if (_pointer != null)
        {
            NativeMemory.AlignedFree(_pointer);
            _pointer = null;
            GC.RemoveMemoryPressure(Math.Max(Length, 1));
        }
    }
}
