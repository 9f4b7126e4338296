using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Sessions;

/// <summary>
/// The two fixture models on the reference engine, loaded once for all text-side tests (a model is safe to share
/// as long as each test uses its own state).
/// </summary>
public static class SharedModels
{
    private static readonly Lazy<RwkvModel> TinyModel = new(() => Load(Models.TinyF32Safetensors));
    private static readonly Lazy<RwkvModel> Mh4Model = new(() => Load(Models.Mh4Safetensors));

    /// <summary>Byte-level tiny model: L12 D64, vocabulary 256.</summary>
    public static RwkvModel Tiny => TinyModel.Value;

    /// <summary>Random four-head model: L3 D256, vocabulary 512.</summary>
    public static RwkvModel Mh4 => Mh4Model.Value;

    private static RwkvModel Load(string file) =>
        RwkvModel.Load(Fixtures.Path(file), new RwkvModelOptions { Engine = EngineSelection.Reference });
}
