using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Software prefetch for generated kernels (which need no <c>unsafe</c> context): decode streams each weight matrix
/// from memory once per token, and asking for row tiles ahead of the one being multiplied keeps more loads in flight
/// than the hardware prefetcher does on its own. No-ops where x86 prefetch is unavailable.
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

    /// <summary>
    /// Requests the cache line holding <paramref name="reference"/>[<paramref name="elementOffset"/>] of a stream read
    /// from memory with a non-temporal hint: wanted in L1 soon, not worth keeping in the outer caches once used. Weight
    /// matrices are such streams: far larger than the caches, read once per token (or, in multi-token tiles, once per
    /// tile of tokens from L1). On this project's Zen 5 machine (docs/benchmarks.md, change 21) bf16 decode on two
    /// threads went from 151–169 to 173–205 tokens/s with it, against the plain hint of <see cref="Read{T}"/>; 8-bit
    /// weights followed once their rows carried their scales (change 29).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Stream<T>(ref T reference, nuint elementOffset)
        where T : unmanaged
    {
        if (Sse.IsSupported)
        {
            Sse.PrefetchNonTemporal(Unsafe.AsPointer(ref Unsafe.Add(ref reference, elementOffset)));
        }
    }
}
