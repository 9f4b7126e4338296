using System.Runtime.Intrinsics;
using Rwkv7.Gen.Benchmarking;
using Rwkv7.Gen.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// Evidence that each of <c>eng/test.sh</c>'s runs of the numeric tests used the SIMD width it claims: the width
/// follows from the CPU and the <c>DOTNET_Enable*</c> settings, and .NET's vector types and the engine's report must
/// agree with it. The test writes the width into the test log (<c>rwkv7-simd-width=...</c>), where the script reads it
/// for its summary.
/// </summary>
public sealed class VectorWidthTests(ITestOutputHelper output)
{
    /// <summary>What <c>eng/test.sh</c> looks for in the test results of each run.</summary>
    public const string Marker = "rwkv7-simd-width=";

    /// <summary>The CPU's own width, logged beside the run's (<c>rwkv7-simd-cpu=...</c>).</summary>
    public const string CpuMarker = "rwkv7-simd-cpu=";

    [Fact]
    public void The_run_uses_the_width_its_settings_leave_on_this_CPU()
    {
        int cpu = SimdWidth.Cpu();
        int expected = SimdWidth.Expected(cpu, Environment.GetEnvironmentVariable);
        int inUse = SimdWidth.InUse;
        string settings = string.Join(" ", SimdWidth.SettingsInEffect(Environment.GetEnvironmentVariable).DefaultIfEmpty("no DOTNET_Enable* settings"));
        bool declined = expected == 512 && inUse == 256 && SimdWidth.RuntimeDeclined512;
        output.WriteLine($"{Marker}{SimdWidth.Name(inUse)}");
        output.WriteLine($"{CpuMarker}{SimdWidth.Name(cpu)}");
        output.WriteLine($"{settings}: CPU {SimdWidth.Name(cpu)}, expected {SimdWidth.Name(expected)}, in use {SimdWidth.Name(inUse)}"
            + (declined ? " (the runtime has AVX-512 but does not prefer 512-bit vectors on this CPU)" : ""));

        int width = declined ? 256 : expected;
        Assert.True(width == inUse, $"{settings} on a {SimdWidth.Name(cpu)} CPU should leave {SimdWidth.Name(width)} vectors, but {SimdWidth.Name(inUse)} are in use");
        Assert.Equal(width >= 512, Vector512.IsHardwareAccelerated);
        Assert.Equal(width >= 256, Vector256.IsHardwareAccelerated);
        Assert.Equal(width >= 128, Vector128.IsHardwareAccelerated);

        // What the engine reports (rwkv7 bench prints it) is the width its kernels select.
        string reported = width == 0 ? "scalar" : "Vector" + width;
        Assert.Equal(reported, HardwareProbe.VectorWidthName);
    }

    [Theory]
    [InlineData(512, "", 512)]
    [InlineData(256, "", 256)]
    [InlineData(512, "DOTNET_EnableAVX512=0", 256)]
    [InlineData(256, "DOTNET_EnableAVX512=0", 256)] // no AVX-512: the same width as with no setting
    [InlineData(512, "DOTNET_EnableAVX512=00", 256)] // the runtime reads hexadecimal numbers
    [InlineData(512, "DOTNET_EnableAVX512=1", 512)]
    [InlineData(512, "DOTNET_EnableAVX2=0", 128)]
    [InlineData(512, "COMPlus_EnableAVX2=0", 128)]
    [InlineData(512, "DOTNET_EnableAVX=0", 128)]
    [InlineData(512, "DOTNET_EnableHWIntrinsic=0", 0)]
    [InlineData(128, "DOTNET_EnableAVX512=0", 128)]
    [InlineData(512, "DOTNET_EnableAVX512=0 DOTNET_EnableHWIntrinsic=0", 0)]
    [InlineData(512, "DOTNET_EnableAVX512F=0", 512)] // not a setting the runtime reads
    public void Settings_narrow_the_width_the_CPU_allows(int cpu, string settings, int expected)
    {
        Dictionary<string, string> environment = settings.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(s => s.Split('='))
            .ToDictionary(kv => kv[0], kv => kv[1]);
        Assert.Equal(expected, SimdWidth.Expected(cpu, environment.GetValueOrDefault));
    }
}
