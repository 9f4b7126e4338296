using System.Runtime.InteropServices;

namespace Rwkv7.Gen.Tests.Tuning;

/// <summary>How a processor is identified, which table entry describes it, and how settings and tuning files apply.</summary>
public sealed class CpuTuningTests
{
    private static readonly CpuIdentity Zen5 = new(Architecture.X64, CpuIdentity.Amd, 0x1A, 2, 1, "AMD EPYC 9B45", "cpuid");
    private static readonly CpuIdentity SapphireRapids = new(Architecture.X64, CpuIdentity.Intel, 6, 0x8F, 8, "Intel(R) Xeon(R) Platinum 8481C", "cpuid");
    private static readonly CpuIdentity UnknownIntel = new(Architecture.X64, CpuIdentity.Intel, 6, 0x55, 7, "Intel(R) Xeon(R) Gold 6148", "cpuid");

    private static Func<string, string?> Env(params (string Name, string Value)[] values) =>
        name => values.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void The_first_processor_of_proc_cpuinfo_names_vendor_family_model_and_brand()
    {
        const string x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz\nstepping\t: 8\n\n"
            + "processor\t: 1\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\n";
        CpuIdentity intel = CpuIdentity.FromCpuInfo(x86, Architecture.X64);
        Assert.Equal((CpuIdentity.Intel, 6, 143, 8), (intel.Vendor, intel.Family, intel.Model, intel.Stepping));
        Assert.Equal("Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", intel.Brand);
        Assert.Equal("GenuineIntel-6-143", intel.Key);
        Assert.Equal("Intel Sapphire Rapids / Emerald Rapids", CpuTuningTable.Find(intel)?.Name);

        const string arm = "processor\t: 0\nBogoMIPS\t: 243.75\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd40\nCPU revision\t: 1\n";
        CpuIdentity neoverse = CpuIdentity.FromCpuInfo(arm, Architecture.Arm64);
        Assert.Equal(("arm 0x41", 0x41, 0xd40, 1), (neoverse.Vendor, neoverse.Family, neoverse.Model, neoverse.Stepping));
        Assert.Null(CpuTuningTable.Find(neoverse));

        CpuIdentity nothing = CpuIdentity.FromCpuInfo("garbage without fields", Architecture.X64);
        Assert.Equal("unknown", nothing.Vendor);
    }

    [Fact]
    public void This_processor_is_read_with_cpuid_on_x86()
    {
        CpuIdentity cpu = CpuIdentity.Current;
        if (System.Runtime.Intrinsics.X86.X86Base.IsSupported)
        {
            Assert.Equal("cpuid", cpu.Source);
            Assert.Matches("^[ -~]{12}$", cpu.Vendor); // twelve printable ASCII characters, as CPUID leaf 0 returns them
            Assert.True(cpu.Family >= 6, cpu.ToString());
        }
        else
        {
            Assert.NotEqual("cpuid", cpu.Source);
        }
    }

    [Fact]
    public void The_table_keeps_what_was_measured_on_each_processor()
    {
        CpuTuning zen5 = CpuTuning.ForProcessor(Zen5, Env());
        Assert.Equal(PrefetchHint.NonTemporal, zen5.WeightPrefetch);
        Assert.Equal(TuningSource.Table, zen5.Source);
        Assert.Contains("AMD Zen 5", zen5.Origin, StringComparison.Ordinal);
        Assert.Contains("docs/benchmarks.md", zen5.Origin, StringComparison.Ordinal);
        Assert.False(zen5.WantsCalibration);

        // The choices made on Zen 5 before this table existed, unchanged but the split threshold (change 59: 20 → 8 µs).
        Assert.Equal((2, 8.0, 2.0, 20.0, 50.0, 5.0, 2.0, 300.0, true), (zen5.PartsPerThread, zen5.MinParallelMicroseconds, zen5.MinWorkToMigration,
            zen5.StreamBytesPerNanosecond, zen5.MultiplyAddsPerNanosecond, zen5.CrossCoreBytesPerNanosecond, zen5.RowElementsPerNanosecond, zen5.HeadRowNanoseconds, zen5.HugePages));

        CpuTuning intel = CpuTuning.ForProcessor(SapphireRapids, Env());
        Assert.Equal(PrefetchHint.Temporal, intel.WeightPrefetch);
        Assert.Contains("issue 20", intel.Origin, StringComparison.Ordinal);

        // Zen 5's 4-bit prompt path was measured (changes 49, 55, 57); the Xeon's was not, so a 4-bit model calibrates it.
        bool x86 = RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86 && Environment.GetEnvironmentVariable("RWKV7_CALIBRATE") != "0";
        Assert.True(zen5.PromptPathMeasured);
        Assert.False(zen5.WantsPromptCalibration);
        Assert.EndsWith("4-bit prompts of ≤ 64/64 tokens (512/256-bit) on 8-bit inputs", zen5.Describe(), StringComparison.Ordinal);
        Assert.False(intel.PromptPathMeasured);
        Assert.Equal(x86, intel.WantsPromptCalibration);
        Assert.EndsWith("on 8-bit inputs (not measured here: a 4-bit model calibrates it)", intel.Describe(), StringComparison.Ordinal);

        CpuTuning unknown = CpuTuning.ForProcessor(UnknownIntel, Env());
        Assert.Same(CpuTuning.Default, unknown);
        Assert.Equal(TuningSource.Default, unknown.Source);
        Assert.Equal(x86, unknown.WantsCalibration);
        Assert.Equal(x86, unknown.WantsPromptCalibration);
    }

    [Fact]
    public void The_environment_overrides_the_table()
    {
        CpuTuning forced = CpuTuning.ForProcessor(Zen5, Env(("RWKV7_PREFETCH", "t0"), ("RWKV7_HUGE_PAGES", "0")));
        Assert.Equal(PrefetchHint.Temporal, forced.WeightPrefetch);
        Assert.False(forced.HugePages);
        Assert.Equal(TuningSource.Configured, forced.Source);
        Assert.StartsWith("RWKV7_PREFETCH=t0 over table entry 'AMD Zen 5'", forced.Origin, StringComparison.Ordinal);
        Assert.False(forced.WantsCalibration);

        Assert.Equal(PrefetchHint.NonTemporal, CpuTuning.ForProcessor(UnknownIntel, Env(("RWKV7_PREFETCH", "NTA"))).WeightPrefetch);
        RwkvException bad = Assert.Throws<RwkvException>(() => CpuTuning.ForProcessor(Zen5, Env(("RWKV7_PREFETCH", "t1"))));
        Assert.Equal("RWKV7_PREFETCH is 't1'; expected t0 or nta.", bad.Message);
    }

    [Fact]
    public void A_tuning_file_reads_back_what_was_written()
    {
        CpuTuning tuning = CpuTuning.ForProcessor(Zen5, Env()) with { PartsPerThread = 3, MinParallelMicroseconds = 12.5, HugePages = false, Int16SequenceTokens256 = 17 };
        string text = tuning.ToText(Zen5);
        Assert.StartsWith("# rwkv7 tuning for AMD EPYC 9B45, AuthenticAMD family 26 (0x1A) model 2 (0x2) stepping 1\n", text, StringComparison.Ordinal);
        Assert.Contains("\nprompt_path_measured = yes\n", text, StringComparison.Ordinal);
        CpuTuning read = CpuTuning.Parse(text, "t.txt", Zen5);
        Assert.Equal(tuning with { Source = TuningSource.Configured, Origin = "tuning file t.txt" }, read);

        // A file from before the key, or one saved from a model without 4-bit weights, leaves the prompt path to calibrate.
        Assert.False(CpuTuning.Parse("prefetch = nta\n", "t.txt", Zen5).PromptPathMeasured);
        Assert.False(CpuTuning.Parse(tuning.ToText(Zen5).Replace("prompt_path_measured = yes", "prompt_path_measured = no", StringComparison.Ordinal), "t.txt", Zen5).PromptPathMeasured);
    }

    [Theory]
    [InlineData("prefetch = nta\nparts_per_thread = 0\n", "t.txt: line 2: parts_per_thread must be a number in [1, 16] (whole), not '0'")]
    [InlineData("parts_per_thread = 2.5", "t.txt: line 1: parts_per_thread must be a number in [1, 16] (whole), not '2.5'")]
    [InlineData("min_parallel_us = NaN", "t.txt: line 1: min_parallel_us must be a number in [0, 1000000], not 'NaN'")]
    [InlineData("# comment\nprefetch = t2", "t.txt: line 2: prefetch must be t0 or nta, not 't2'")]
    [InlineData("threads = 4", "t.txt: line 1: unknown key 'threads'")]
    [InlineData("prefetch nta", "t.txt: line 1: expected 'key = value', found 'prefetch nta'")]
    [InlineData("huge_pages = yes", "t.txt: line 1: huge_pages must be on or off, not 'yes'")]
    [InlineData("prompt_path_measured = maybe", "t.txt: line 1: prompt_path_measured must be yes or no, not 'maybe'")]
    [InlineData("int16_sequence_tokens_512 = 65", "t.txt: line 1: int16_sequence_tokens_512 must be a number in [0, 64] (whole), not '65'")]
    [InlineData("int16_sequence_tokens_256 = 8.5", "t.txt: line 1: int16_sequence_tokens_256 must be a number in [0, 64] (whole), not '8.5'")]
    [InlineData("cpu = GenuineIntel-6-143\nprefetch = t0", "t.txt: line 1: the tuning was made on 'GenuineIntel-6-143', and this processor is 'AuthenticAMD-26-2'")]
    public void A_malformed_tuning_file_names_its_line(string text, string message)
    {
        RwkvFormatException e = Assert.Throws<RwkvFormatException>(() => CpuTuning.Parse(text, "t.txt", Zen5));
        Assert.Equal(message, e.Message);
    }
}
