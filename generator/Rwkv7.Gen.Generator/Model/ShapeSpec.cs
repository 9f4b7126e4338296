using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Model
{
    /// <summary>
    /// A valid shape file, as the emitter needs it: plain values with value equality (no syntax, symbols or
    /// compilation), so that the incremental pipeline can tell when nothing changed.
    /// </summary>
    internal sealed record ShapeSpec(
        string FileName,
        string Model,
        string Namespace,
        string TypeName,
        int Layers,
        int Embedding,
        int HeadSize,
        int Vocab,
        int Ffn,
        int DecayRank,
        int IclrRank,
        int ValueRank,
        int GateRank,
        WeightType WeightTypes)
    {
        public int Heads => Embedding / HeadSize;

        public string FullTypeName => Namespace + "." + TypeName;
    }
}
