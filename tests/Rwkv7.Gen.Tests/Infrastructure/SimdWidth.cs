using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rwkv7.Gen.Tests.Infrastructure;

/// <summary>
/// The SIMD width a test run should be using, worked out without asking .NET's vector types: from what the CPU reports
/// (CPUID) and from the <c>DOTNET_Enable*</c> settings that <c>eng/test.sh</c> reruns the width-dependent tests with.
/// Widths are in bits; 0 is scalar code (no hardware vectors).
/// </summary>
internal static class SimdWidth
{
    /// <summary>
    /// Tests with vector paths outside the <c>Numerics</c> namespace carry this trait (value <see cref="AllWidths"/>):
    /// <c>eng/test.sh</c> reruns them, with <c>Numerics</c>, on every narrower width.
    /// </summary>
    public const string Trait = "Simd";

    /// <summary>The value of <see cref="Trait"/>.</summary>
    public const string AllWidths = "AllWidths";

    /// <summary>
    /// The runtime settings that narrow the vectors, each with the widest width left when it is 0. The runtime also
    /// reads them with the legacy <c>COMPlus_</c> prefix.
    /// </summary>
    public static readonly IReadOnlyList<(string Setting, int Ceiling)> Settings =
    [
        ("EnableHWIntrinsic", 0),
        ("EnableAVX", 128),
        ("EnableAVX2", 128),
        ("EnableAVX512", 256),
    ];

    /// <summary>"512-bit", "256-bit", "128-bit" or "scalar".</summary>
    public static string Name(int bits) => bits == 0 ? "scalar" : bits.ToString(CultureInfo.InvariantCulture) + "-bit";

    /// <summary>The widest vectors .NET accelerates in this process.</summary>
    public static int InUse =>
        Vector512.IsHardwareAccelerated ? 512
        : Vector256.IsHardwareAccelerated ? 256
        : Vector128.IsHardwareAccelerated ? 128
        : 0;

    /// <summary>The settings among <see cref="Settings"/> present in this process's environment, as NAME=VALUE.</summary>
    public static IEnumerable<string> SettingsInEffect(Func<string, string?> environment) =>
        from s in Settings
        from prefix in new[] { "DOTNET_", "COMPlus_" }
        let value = environment(prefix + s.Setting)
        where value is not null
        select $"{prefix}{s.Setting}={value}";

    /// <summary>
    /// The width the environment leaves on a CPU whose widest usable vectors are <paramref name="cpuBits"/>: the CPU's
    /// width, narrowed by each setting that is 0. The runtime parses these settings as hexadecimal numbers, so "0" and
    /// "00" turn a feature off and any other number leaves it on.
    /// </summary>
    public static int Expected(int cpuBits, Func<string, string?> environment)
    {
        int bits = cpuBits;
        foreach ((string setting, int ceiling) in Settings)
        {
            if (IsZero(environment("DOTNET_" + setting)) || IsZero(environment("COMPlus_" + setting)))
            {
                bits = Math.Min(bits, ceiling);
            }
        }

        return bits;
    }

    private static bool IsZero(string? value) =>
        value is not null && uint.TryParse(value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint n) && n == 0;

    /// <summary>
    /// The widest vectors this CPU can run with .NET: on x64 from CPUID (which answers whatever the runtime's settings
    /// are), with the feature groups .NET 10 requires for each width; arm64 always has 128-bit AdvSimd.
    /// </summary>
    public static int Cpu()
    {
        switch (RuntimeInformation.ProcessArchitecture)
        {
            case Architecture.Arm64:
                return 128;
            case Architecture.X64:
                break;
            default:
                throw new PlatformNotSupportedException($"No SIMD width rule for {RuntimeInformation.ProcessArchitecture}.");
        }

        int maxLeaf = X86Base.CpuId(0, 0).Eax;
        (_, _, int ecx1, _) = X86Base.CpuId(1, 0);
        int ebx7 = maxLeaf >= 7 ? X86Base.CpuId(7, 0).Ebx : 0;
        (_, _, int ecx81, _) = X86Base.CpuId(unchecked((int)0x80000001), 0);

        // Vector256 needs the x86-64-v3 group: AVX, AVX2, BMI1, BMI2, FMA, LZCNT, MOVBE (and the OS saving YMM state).
        bool v3 = Bit(ecx1, 12) && Bit(ecx1, 22) && Bit(ecx1, 27) && Bit(ecx1, 28)
            && Bit(ebx7, 3) && Bit(ebx7, 5) && Bit(ebx7, 8) && Bit(ecx81, 5);

        // Vector512 needs AVX-512 F, DQ, CD, BW and VL on top.
        bool v4 = v3 && Bit(ebx7, 16) && Bit(ebx7, 17) && Bit(ebx7, 28) && Bit(ebx7, 30) && Bit(ebx7, 31);
        return v4 ? 512 : v3 ? 256 : 128;
    }

    /// <summary>
    /// Whether the runtime has AVX-512 enabled yet does not accelerate <see cref="Vector512"/>: its choice on CPUs where
    /// 512-bit instructions lower the clock (or with <c>DOTNET_PreferredVectorBitWidth</c>), not a missing feature.
    /// </summary>
    public static bool RuntimeDeclined512 => Avx512F.IsSupported && !Vector512.IsHardwareAccelerated;

    private static bool Bit(int register, int bit) => ((register >> bit) & 1) != 0;
}
