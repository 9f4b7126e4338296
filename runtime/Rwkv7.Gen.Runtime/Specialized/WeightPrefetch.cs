using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// How a kernel requests the weights it will read next: decode streams each weight matrix from memory once per token,
/// and asking for row tiles ahead of the one being multiplied keeps more loads in flight than the hardware prefetcher
/// does on its own. Which hint streams best is a property of the processor (<see cref="CpuTuning.WeightPrefetch"/>),
/// so the kernels are generic over this interface and the engine picks an instantiation when it starts: the hint is
/// a constant inside every kernel, never a branch or a static read in a loop (docs/benchmarks.md, change 18).
/// </summary>
/// <remarks>Both implementations are no-ops where x86 prefetch is unavailable (arm64).</remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IWeightPrefetch
{
    /// <summary>The hint this policy issues.</summary>
    static abstract PrefetchHint Hint { get; }

    /// <summary>
    /// How far ahead row tiles request their weights: at least this many bytes, in whole tiles, and only within the
    /// call's rows (rows past the end belong to another core's part).
    /// </summary>
    static abstract int AheadBytes { get; }

    /// <summary>Requests the cache line holding <paramref name="reference"/>[<paramref name="elementOffset"/>].</summary>
    static abstract void Line<T>(ref T reference, nuint elementOffset)
        where T : unmanaged;
}

/// <summary>
/// Weights requested with the non-temporal hint (<c>prefetchnta</c>): wanted in L1 soon, not worth keeping in the
/// outer caches once used. On AMD Zen 5 bf16 decode on two threads went from 151–169 to 173–205 tokens/s with it
/// against <c>prefetcht0</c> (docs/benchmarks.md, change 21), 8-bit once its rows carried their scales (change 29); one
/// tile ahead did better than 12 KiB there (change 22), hence 4 KiB.
/// </summary>
internal readonly struct NonTemporalPrefetch : IWeightPrefetch
{
    /// <inheritdoc />
    public static PrefetchHint Hint => PrefetchHint.NonTemporal;

    /// <inheritdoc />
    public static int AheadBytes => 4096;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Line<T>(ref T reference, nuint elementOffset)
        where T : unmanaged
    {
        if (Sse.IsSupported)
        {
            Sse.PrefetchNonTemporal(Unsafe.AsPointer(ref Unsafe.Add(ref reference, elementOffset)));
        }
    }
}

/// <summary>
/// Weights requested into every cache level (<c>prefetcht0</c>). On an Intel Xeon of the Sapphire/Emerald Rapids class
/// it decoded the 0.1B shape at 75–83 tokens/s on two threads against 52–53 with the non-temporal hint, 8-bit at 127
/// against 77 (issue 20, measured at 4 KiB ahead, as here).
/// </summary>
internal readonly struct TemporalPrefetch : IWeightPrefetch
{
    /// <inheritdoc />
    public static PrefetchHint Hint => PrefetchHint.Temporal;

    /// <inheritdoc />
    public static int AheadBytes => 4096;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Line<T>(ref T reference, nuint elementOffset)
        where T : unmanaged
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref reference, elementOffset)));
        }
    }
}

/// <summary>Prefetch requests that are not weight streams.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Prefetch
{
    /// <summary>
    /// Requests the cache line holding <paramref name="reference"/>[<paramref name="elementOffset"/>] into every cache
    /// level (<c>prefetcht0</c>): data read again soon, such as a head's WKV state.
    /// </summary>
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
    /// Whole tiles of <paramref name="tileBytes"/> covering at least <paramref name="aheadBytes"/>: how many tiles ahead a
    /// kernel requests its weights. Both arguments are constants in a kernel, so the JIT folds the result.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int TilesAhead(int aheadBytes, int tileBytes) => Math.Max(1, (aheadBytes + tileBytes - 1) / tileBytes);
}
