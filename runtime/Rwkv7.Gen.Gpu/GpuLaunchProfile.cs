using ILGPU.Runtime;

namespace Rwkv7.Gen.Gpu;

/// <summary>
/// Group sizes of the kernel launches. Every generated kernel except the WKV (always 64 threads, one per value channel
/// of a head) works for any power-of-two width chosen here; the results differ only in summation order.
/// </summary>
/// <remarks>
/// On a GPU, rows are shared by many threads: a warp of lanes splits each matrix row (coalesced loads) and a group
/// reduces a LayerNorm row together. ILGPU's CPU accelerator runs every thread of a group as an OS thread and each
/// barrier costs milliseconds there, so its profile gives each row to one thread: no barrier is ever taken.
/// </remarks>
/// <param name="RowThreads">Threads per group of the row kernels (embedding, LayerNorm + token shift, final norm, argmax).</param>
/// <param name="MatMulThreads">Threads per group of the products.</param>
/// <param name="LanesPerRow">Threads sharing one output row in the D- and FFN-input products.</param>
/// <param name="LoraLanesPerRow">Threads sharing one output row in the LoRA up-projections (whose rows are short).</param>
public sealed record GpuLaunchProfile(int RowThreads, int MatMulThreads, int LanesPerRow, int LoraLanesPerRow)
{
    /// <summary>The largest group the kernels' shared-memory arrays are sized for.</summary>
    public const int MaxGroupThreads = 256;

    /// <summary>Threads per WKV group: one per value channel of a head.</summary>
    public const int WkvThreads = 64;

    /// <summary>CUDA: 256-thread groups, a warp per matrix row (16 lanes for the short LoRA rows).</summary>
    public static GpuLaunchProfile Gpu { get; } = new(RowThreads: 256, MatMulThreads: 256, LanesPerRow: 32, LoraLanesPerRow: 16);

    /// <summary>ILGPU's CPU accelerator: one thread per row, so no barrier is taken (see remarks).</summary>
    public static GpuLaunchProfile CpuAccelerator { get; } = new(RowThreads: 1, MatMulThreads: 16, LanesPerRow: 1, LoraLanesPerRow: 1);

    /// <summary>The default profile for an accelerator.</summary>
    public static GpuLaunchProfile For(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return accelerator.AcceleratorType == AcceleratorType.CPU ? CpuAccelerator : Gpu;
    }

    /// <summary>Throws when a width is not a power of two, exceeds the group limits or does not divide the group.</summary>
    public void Validate(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        int max = Math.Min(MaxGroupThreads, accelerator.MaxNumThreadsPerGroup);
        Check(RowThreads, max, nameof(RowThreads));
        Check(MatMulThreads, max, nameof(MatMulThreads));
        Check(LanesPerRow, MatMulThreads, nameof(LanesPerRow));
        Check(LoraLanesPerRow, MatMulThreads, nameof(LoraLanesPerRow));
        if (accelerator.MaxNumThreadsPerGroup < WkvThreads)
        {
            throw new NotSupportedException(
                $"The WKV kernel needs groups of {WkvThreads} threads; {accelerator.Name} allows {accelerator.MaxNumThreadsPerGroup}.");
        }
    }

    private static void Check(int value, int max, string name)
    {
        if (value < 1 || value > max || (value & (value - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(name, value, $"Must be a power of two between 1 and {max}.");
        }
    }
}
