using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen;

/// <summary>
/// Describes a model type emitted by the Rwkv7.Gen source generator for one shape file. Generated code registers
/// one of these from a module initializer; nothing is discovered by reflection.
/// </summary>
public sealed class GeneratedModelInfo : ShapeSpecialization
{
    private readonly Func<RwkvWeights, bool, RwkvModel> _factory;

    /// <summary>Creates the description (called by generated code).</summary>
    /// <param name="name">The shape file's model name, e.g. <c>rwkv7-0.1b</c>.</param>
    /// <param name="typeName">Full name of the generated type.</param>
    /// <param name="shape">The shape as written in the shape file.</param>
    /// <param name="factory">Binds the generated engine to weights (the flag says whether it owns them).</param>
    public GeneratedModelInfo(string name, string typeName, ModelShape shape, Func<RwkvWeights, bool, RwkvModel> factory)
        : base(name, typeName, shape)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _factory = factory;
    }

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
    private static readonly SpecializationRegistry<GeneratedModelInfo> Registry = new();

    /// <summary>Every registered generated model, in registration order.</summary>
    public static IReadOnlyList<GeneratedModelInfo> Models => Registry.Items;

    /// <summary>Registers a generated model (called from generated module initializers). A type registered twice is kept once.</summary>
    public static void Register(GeneratedModelInfo model) => Registry.Register(model);

    /// <summary>The first registered model able to run weights of <paramref name="shape"/>, or null.</summary>
    public static GeneratedModelInfo? FindFor(ModelShape shape) => Registry.FindFor(shape);

    /// <summary>A registered model by its shape-file name (case-insensitive), or null.</summary>
    public static GeneratedModelInfo? FindByName(string name) => Registry.FindByName(name);
}
