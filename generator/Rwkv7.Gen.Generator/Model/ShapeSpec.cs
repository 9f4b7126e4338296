using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Model
{
    /// <summary>
    /// A valid shape file, as the planner and the emitters need it: plain values with value equality (no syntax,
    /// symbols or compilation), so that the incremental pipeline can tell when nothing changed.
    /// </summary>
    /// <param name="FileName">The shape file's name (not its path: output must not depend on where it is).</param>
    /// <param name="Model">The model name.</param>
    /// <param name="Namespace">The generated type's namespace.</param>
    /// <param name="TypeName">The generated type's name.</param>
    /// <param name="Numbers">Depth, widths and ranks, as the parser read them (the runtime's <c>ModelShape</c> has the same).</param>
    /// <param name="WeightTypes">The weight types to generate products for.</param>
    internal sealed record ShapeSpec(
        string FileName,
        string Model,
        string Namespace,
        string TypeName,
        ShapeNumbers Numbers,
        WeightType WeightTypes)
    {
        public string FullTypeName => Namespace + "." + TypeName;
    }
}
