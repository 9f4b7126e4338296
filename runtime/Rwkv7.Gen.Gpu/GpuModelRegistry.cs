using ILGPU.Runtime;
using Rwkv7.Gen.Gpu.Kernels;

namespace Rwkv7.Gen.Gpu;

/// <summary>
/// Describes the GPU kernels generated for one shape file. Generated code registers one of these from a module
/// initializer (no reflection); <see cref="GpuRwkvModel.Create"/> looks them up by layer widths.
/// </summary>
public sealed class GpuModelInfo
{
    private readonly Func<Accelerator, GpuWeightFormat, GpuKernelSet> _factory;

    /// <summary>Creates the description (called by generated code).</summary>
    /// <param name="name">The shape file's model name.</param>
    /// <param name="typeName">Full name of the generated kernel type.</param>
    /// <param name="shape">The shape declared in the shape file.</param>
    /// <param name="factory">Compiles the kernels for an accelerator and weight format.</param>
    public GpuModelInfo(string name, string typeName, ModelShape shape, Func<Accelerator, GpuWeightFormat, GpuKernelSet> factory)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(factory);
        Name = name;
        TypeName = typeName;
        Shape = shape;
        _factory = factory;
    }

    /// <summary>The shape file's model name.</summary>
    public string Name { get; }

    /// <summary>Full name of the generated kernel type.</summary>
    public string TypeName { get; }

    /// <summary>The declared shape; depth and vocabulary are loop bounds, not limits.</summary>
    public ModelShape Shape { get; }

    /// <summary>Whether these kernels run weights of <paramref name="shape"/> (same per-layer widths).</summary>
    public bool CanRun(ModelShape shape) => Shape.HasSameLayerWidths(shape);

    /// <summary>Compiles the kernels (ILGPU generates device code on first use of each kernel).</summary>
    internal GpuKernelSet Create(Accelerator accelerator, GpuWeightFormat format) => _factory(accelerator, format);
}

/// <summary>The GPU kernel sets linked into this process, registered by generated module initializers.</summary>
public static class GpuModelRegistry
{
    private static readonly object Gate = new();
    private static GpuModelInfo[] _models = [];

    /// <summary>Every registered kernel set, in registration order.</summary>
    public static IReadOnlyList<GpuModelInfo> Models => Volatile.Read(ref _models);

    /// <summary>Registers a kernel set (called from generated module initializers); a type registered twice is kept once.</summary>
    public static void Register(GpuModelInfo model)
    {
        ArgumentNullException.ThrowIfNull(model);
        lock (Gate)
        {
            if (Array.Exists(_models, m => m.TypeName == model.TypeName))
            {
                return;
            }

            Volatile.Write(ref _models, [.. _models, model]);
        }
    }

    /// <summary>The first registered kernel set able to run weights of <paramref name="shape"/>, or null.</summary>
    public static GpuModelInfo? FindFor(ModelShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        foreach (GpuModelInfo m in Models)
        {
            if (m.CanRun(shape))
            {
                return m;
            }
        }

        return null;
    }
}
