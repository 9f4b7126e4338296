using ILGPU.Runtime;
using Rwkv7.Gen.Gpu.Kernels;

namespace Rwkv7.Gen.Gpu;

/// <summary>
/// Describes the GPU kernels generated for one shape file. Generated code registers one of these from a module
/// initializer (no reflection); <see cref="GpuRwkvModel.Create"/> looks them up by layer widths.
/// </summary>
public sealed class GpuModelInfo : ShapeSpecialization
{
    private readonly Func<Accelerator, GpuWeightFormat, GpuKernelSet> _factory;

    /// <summary>Creates the description (called by generated code).</summary>
    /// <param name="name">The shape file's model name.</param>
    /// <param name="typeName">Full name of the generated kernel type.</param>
    /// <param name="shape">The shape declared in the shape file.</param>
    /// <param name="factory">Compiles the kernels for an accelerator and weight format.</param>
    public GpuModelInfo(string name, string typeName, ModelShape shape, Func<Accelerator, GpuWeightFormat, GpuKernelSet> factory)
        : base(name, typeName, shape)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _factory = factory;
    }

    /// <summary>Compiles the kernels (ILGPU generates device code on first use of each kernel).</summary>
    internal GpuKernelSet Create(Accelerator accelerator, GpuWeightFormat format) => _factory(accelerator, format);
}

/// <summary>The GPU kernel sets linked into this process, registered by generated module initializers.</summary>
public static class GpuModelRegistry
{
    private static readonly SpecializationRegistry<GpuModelInfo> Registry = new();

    /// <summary>Every registered kernel set, in registration order.</summary>
    public static IReadOnlyList<GpuModelInfo> Models => Registry.Items;

    /// <summary>Registers a kernel set (called from generated module initializers); a type registered twice is kept once.</summary>
    public static void Register(GpuModelInfo model) => Registry.Register(model);

    /// <summary>The first registered kernel set able to run weights of <paramref name="shape"/>, or null.</summary>
    public static GpuModelInfo? FindFor(ModelShape shape) => Registry.FindFor(shape);
}
