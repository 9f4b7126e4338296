using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Software prefetch for generated kernels (which need no <c>unsafe</c> context): decode streams each weight matrix
/// from memory once per token, and asking for the next row tile while the current one is being multiplied keeps
/// more loads in flight than the hardware prefetcher does on its own. A no-op where x86 prefetch is unavailable.
/// </summary>
public static class Prefetch
{
    /// <summary>Requests the cache line holding <paramref name="reference"/>[<paramref name="elementOffset"/>].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Read<T>(ref T reference, nuint elementOffset)
        where T : unmanaged
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref reference, elementOffset)));
        }
    }
}
