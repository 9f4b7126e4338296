using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen;

/// <summary>
/// Describes a model type emitted by the Rwkv7.Gen source generator for one shape file. Generated code registers
/// one of these from a module initializer; nothing is discovered by reflection.
/// </summary>
public sealed class GeneratedModelInfo
{
    private readonly Func<RwkvWeights, bool, RwkvModel> _factory;

    /// <summary>Creates the description (called by generated code).</summary>
    /// <param name="name">The shape file's model name, e.g. <c>rwkv7-0.1b</c>.</param>
    /// <param name="typeName">Full name of the generated type.</param>
    /// <param name="shape">The shape as written in the shape file.</param>
    /// <param name="factory">Binds the generated engine to weights (the flag says whether it owns them).</param>
    public GeneratedModelInfo(string name, string typeName, ModelShape shape, Func<RwkvWeights, bool, RwkvModel> factory)
    {
        Name = name;
        TypeName = typeName;
        Shape = shape;
        _factory = factory;
    }

    /// <summary>The shape file's model name.</summary>
    public string Name { get; }

    /// <summary>Full name of the generated type.</summary>
    public string TypeName { get; }

    /// <summary>The shape declared in the shape file. Its depth and vocabulary are defaults, not limits.</summary>
    public ModelShape Shape { get; }

    /// <summary>
    /// Whether the generated kernels can run weights of <paramref name="shape"/>: per-layer widths (embedding, heads,
    /// FFN, LoRA ranks) must match; depth and vocabulary are loop bounds and may differ.
    /// </summary>
    public bool CanRun(ModelShape shape) => Shape.HasSameLayerWidths(shape);

    /// <summary>Binds the generated engine to <paramref name="weights"/>.</summary>
    public RwkvModel Create(RwkvWeights weights, bool ownsWeights = false)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (!CanRun(weights.Shape))
        {
            throw new RwkvException($"Generated model {TypeName} runs {Shape}; the weights have {weights.Shape}.");
        }

        return _factory(weights, ownsWeights);
    }
}

/// <summary>The generated model types linked into this process, registered by their module initializers.</summary>
public static class GeneratedModelRegistry
{
    private static readonly object Gate = new();
    private static GeneratedModelInfo[] _models = [];

    /// <summary>Every registered generated model, in registration order.</summary>
    public static IReadOnlyList<GeneratedModelInfo> Models => Volatile.Read(ref _models);

    /// <summary>Registers a generated model (called from generated module initializers). A type registered twice is kept once.</summary>
    public static void Register(GeneratedModelInfo model)
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

    /// <summary>The first registered model able to run weights of <paramref name="shape"/>, or null.</summary>
    public static GeneratedModelInfo? FindFor(ModelShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        foreach (GeneratedModelInfo m in Models)
        {
            if (m.CanRun(shape))
            {
                return m;
            }
        }

        return null;
    }

    /// <summary>A registered model by its shape-file name (case-insensitive), or null.</summary>
    public static GeneratedModelInfo? FindByName(string name)
    {
        foreach (GeneratedModelInfo m in Models)
        {
            if (string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return m;
            }
        }

        return null;
    }
}
