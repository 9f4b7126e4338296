namespace Rwkv7.Gen;

/// <summary>One processor family this project has been measured on, and the tuning measured there.</summary>
/// <param name="Name">For people, e.g. <c>AMD Zen 5</c>.</param>
/// <param name="Vendor">The CPUID vendor string it matches.</param>
/// <param name="Family">The display family it matches.</param>
/// <param name="Models">The display models it matches; empty matches every model of the family.</param>
/// <param name="Tuning">What was measured to run best there (choices not measured there keep the defaults, and <paramref name="Evidence"/> says so).</param>
/// <param name="Evidence">Where the measurements are written down.</param>
public sealed record CpuTuningEntry(string Name, string Vendor, int Family, IReadOnlyList<int> Models, CpuTuning Tuning, string Evidence)
{
    /// <summary>Whether this entry describes <paramref name="cpu"/>.</summary>
    public bool Matches(CpuIdentity cpu)
    {
        ArgumentNullException.ThrowIfNull(cpu);
        return cpu.Vendor == Vendor && cpu.Family == Family && (Models.Count == 0 || Models.Contains(cpu.Model));
    }
}

/// <summary>
/// What was measured on each processor this project has run on, keyed by CPUID vendor, family and model. A processor
/// that is not here gets the defaults and, on x86, a calibration when the engine starts (<see cref="TuningCalibration"/>).
/// Add an entry only with a measurement: name the machine and where the figures are written (docs/benchmarks.md, per CPU).
/// </summary>
public static class CpuTuningTable
{
    /// <summary>Every entry, in the order they are matched.</summary>
    public static IReadOnlyList<CpuTuningEntry> Entries { get; } =
    [
        new(
            "AMD Zen 5",
            CpuIdentity.Amd,
            Family: 0x1A,
            Models: [],
            new CpuTuning { WeightPrefetch = PrefetchHint.NonTemporal, MinParallelMicroseconds = 8, PromptPathMeasured = true },
            "measured on an AMD EPYC of family 26 model 2, 2 vCPUs, AVX-512: docs/benchmarks.md changes 10 and 59 (split thresholds: "
            + "steps of 8 µs and more, decode's heads step and 4-bit output projection among them), "
            + "11 (huge pages), 20 (two parts per thread), 21, 22 and 29 (non-temporal prefetch 4 KiB ahead: bf16 decode on two "
            + "threads 151–169 → 173–205 tokens/s), 49, 55 and 57 (4-bit prefill on the integer products, 8-bit inputs, for every block at 512 and 256 bits)"),
        new(
            "Intel Sapphire Rapids / Emerald Rapids",
            CpuIdentity.Intel,
            Family: 6,
            Models: [0x8F, 0xCF],
            new CpuTuning { WeightPrefetch = PrefetchHint.Temporal },
            "measured on a 2-vCPU Xeon of that class (AVX-512 F/BW/VL/VNNI, no AVX512-BF16), issue 20: prefetcht0 against the "
            + "non-temporal hint, bf16 decode 52–53 → 75–83 tokens/s on two threads and 28 → 44.5 on one, 8-bit 77 → 127, "
            + "prefill over 512 677–721 → 913–921; its split threshold (the default 20 µs) and parts per thread are not measured "
            + "there, and its 4-bit prompt path is calibrated on the model's weights when a 4-bit model starts"),
    ];

    /// <summary>The entry for <paramref name="cpu"/>, or null when no measurement describes it.</summary>
    public static CpuTuningEntry? Find(CpuIdentity cpu)
    {
        ArgumentNullException.ThrowIfNull(cpu);
        foreach (CpuTuningEntry entry in Entries)
        {
            if (entry.Matches(cpu))
            {
                return entry;
            }
        }

        return null;
    }
}
