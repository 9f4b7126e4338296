using System.Runtime.InteropServices;
using Rwkv7.Gen.Platform;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// A block of unmanaged memory aligned to a cache line, for weights that may exceed the 2 GB limit of managed
/// arrays and must not be moved by the GC. Large blocks ask Linux for transparent huge pages: decode streams every
/// weight once per token, and with 4 KiB pages each page costs a TLB miss and stops the hardware prefetcher at its
/// boundary. Whether to ask is the processor tuning's <see cref="CpuTuning.HugePages"/> (<c>RWKV7_HUGE_PAGES=0</c> turns
/// it off).
/// </summary>
internal sealed unsafe class NativeBuffer : IDisposable
{
    /// <summary>Alignment of every buffer and of every matrix placed in one (a cache line, one 512-bit vector).</summary>
    public const int Alignment = 64;

    /// <summary>Size of an x86-64 huge page; buffers at least this large are aligned to it and advised to use them.</summary>
    public const int HugePageBytes = 2 << 20;

    private byte* _pointer;

    public NativeBuffer(long byteLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLength);
        Length = byteLength;
        bool huge = byteLength >= HugePageBytes && OperatingSystem.IsLinux();
        _pointer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(byteLength, 1), (nuint)(huge ? HugePageBytes : Alignment));
        if (huge && (TuningCalibration.ProcessTuning ?? CpuTuning.ForThisProcessor()).HugePages)
        {
            LibC.TryAdviseHugePages(_pointer, byteLength);
        }

        // Clearing commits every page now, as huge pages where the kernel granted them.
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
