using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rwkv7.Gen.Platform;

/// <summary>
/// A pinned buffer whose first element starts on a 64-byte cache line. A managed array's data starts 16 bytes into the
/// object, so most 64-byte vector loads of it straddle two lines and cost a second load: the kernels' activations,
/// 16-bit inputs and WKV states live in these instead (docs/benchmarks.md, changes 53 and 54: a batch's 4-bit products
/// 1.2-1.4x as fast once their inputs were aligned, on Zen 5).
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
internal readonly struct LineBuffer<T>
    where T : unmanaged
{
    private const int Line = 64;
    private readonly T[] _array;
    private readonly int _start, _length;

    private LineBuffer(T[] array, int start, int length)
    {
        _array = array;
        _start = start;
        _length = length;
    }

    /// <summary>The buffer's elements, zeroed when allocated.</summary>
    public Span<T> Span => _array.AsSpan(_start, _length);

    /// <summary>A zeroed buffer of <paramref name="length"/> elements starting on a line.</summary>
    public static unsafe LineBuffer<T> Allocate(int length)
    {
        T[] array = GC.AllocateArray<T>(length + (Line / sizeof(T)), pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        return new LineBuffer<T>(array, (int)((Line - (address & (Line - 1))) & (Line - 1)) / sizeof(T), length);
    }
}
