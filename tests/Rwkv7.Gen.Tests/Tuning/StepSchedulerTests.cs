using System.Runtime.InteropServices;
using Rwkv7.Gen.Specialized;

namespace Rwkv7.Gen.Tests.Tuning;

/// <summary>
/// The scheduler's cost model with the figures of a tuning: which of 0.1B's decode steps are split across two threads.
/// The figures are the ones a step's work comes to (docs/benchmarks.md, changes 10 and 59), so a change of the model or
/// of a table entry shows here before it shows in a benchmark.
/// </summary>
public sealed class StepSchedulerTests
{
    private static readonly CpuIdentity Zen5 = new(Architecture.X64, CpuIdentity.Amd, 0x1A, 2, 1, "AMD EPYC 9B45", "cpuid");

    /// <summary>0.1B's 4-bit output projection: 768 rows of 384 nibble bytes and 24 fp32 scales.</summary>
    private const long OutputQ4Bytes = 768 * ((768 / 2) + (24 * sizeof(float)));

    [Fact]
    public void Zen_5_splits_decodes_heads_step_and_4_bit_output_projection_where_the_defaults_keep_them_on_one_thread()
    {
        using var pool = new WorkerPool(2);
        var zen5 = new StepScheduler(pool, CpuTuning.ForProcessor(Zen5, _ => null));
        var defaults = new StepScheduler(pool, CpuTuning.Default);

        // 12 heads of one token: 3.6 µs of arithmetic and 12 states of 16 KB at 20 GB/s, 13.4 µs in all (8 ≤ 13.4 < 20).
        Assert.Equal(4, zen5.HeadParts(rows: 1, heads: 12, chained: true));
        Assert.Equal(1, defaults.HeadParts(rows: 1, heads: 12, chained: true));

        // 368,640 bytes at 20 GB/s: 18.4 µs.
        Assert.Equal(4, zen5.MatrixParts(OutputQ4Bytes, 768 * 768, 768 + 768, rows: 1));
        Assert.Equal(1, defaults.MatrixParts(OutputQ4Bytes, 768 * 768, 768 + 768, rows: 1));

        // Both split a batch's heads by sessions and a prompt's by heads, at most one part each.
        Assert.Equal(3, defaults.HeadParts(rows: 3, heads: 12, chained: false));
        Assert.Equal(2, zen5.HeadParts(rows: 16, heads: 2, chained: true));
    }

    [Fact]
    public void Small_steps_stay_on_one_thread_and_one_thread_never_splits()
    {
        using var pool = new WorkerPool(2);
        var zen5 = new StepScheduler(pool, CpuTuning.ForProcessor(Zen5, _ => null));

        // The tiny shape (one head of 64, D = 64): 1.1 µs of heads, 64 × 64 bf16 weights.
        Assert.Equal(1, zen5.HeadParts(rows: 1, heads: 1, chained: true));
        Assert.Equal(1, zen5.MatrixParts(64 * 64 * 2, 64 * 64, 128, rows: 1));

        // The tiny shape's FFN key (256 × 64) over a prompt block of 64: 21 µs of multiply-adds, over the threshold, but
        // moving its 320 activations a row between cores would cost 16 µs, more than half of it, at any number of rows
        // (tiny prefill, change 10). 0.1B's FFN key (3,072 × 768) over the same block does split.
        Assert.Equal(1, zen5.MatrixParts(256 * 64 * 2, 256 * 64, 256 + 64, rows: 64));
        Assert.Equal(4, zen5.MatrixParts(3072 * 768 * 2, 3072 * 768, 3072 + 768, rows: 64));

        zen5.Threads = 1;
        Assert.Equal(1, zen5.HeadParts(rows: 1, heads: 12, chained: true));
        Assert.Equal(1, zen5.MatrixParts(OutputQ4Bytes * 100, 768 * 768 * 100, 1536, rows: 1));
    }
}
