using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Rwkv7.Gen.Gpu;

/// <summary>
/// The feature switch of the GPU path. ILGPU compiles kernels at run time, so the path needs dynamic code
/// (a JIT); a host can also turn it off with the AppContext switch <see cref="SwitchName"/> (for example
/// <c>&lt;RuntimeHostConfigurationOption Include="Rwkv7.Gen.Gpu.IsSupported" Value="false" /&gt;</c>).
/// </summary>
public static class GpuFeature
{
    /// <summary>The AppContext switch; absent means enabled.</summary>
    public const string SwitchName = "Rwkv7.Gen.Gpu.IsSupported";

    /// <summary>Whether the GPU path may run in this process: dynamic code is supported and the switch is not off.</summary>
    public static bool IsSupported =>
        RuntimeFeature.IsDynamicCodeSupported
        && (!AppContext.TryGetSwitch(SwitchName, out bool enabled) || enabled);

    /// <summary>Throws a <see cref="NotSupportedException"/> that says why the GPU path cannot run.</summary>
    [RequiresDynamicCode("ILGPU compiles kernels at run time.")]
    public static void EnsureSupported()
    {
        if (!RuntimeFeature.IsDynamicCodeSupported)
        {
            throw new NotSupportedException(
                "The Rwkv7.Gen GPU path compiles its kernels at run time and cannot run without dynamic code "
                + "(NativeAOT or a trimmed host without a JIT). Use the CPU engines (RwkvModel) in such hosts.");
        }

        if (AppContext.TryGetSwitch(SwitchName, out bool enabled) && !enabled)
        {
            throw new NotSupportedException(
                $"The Rwkv7.Gen GPU path is turned off by the AppContext switch '{SwitchName}' = false.");
        }
    }
}
