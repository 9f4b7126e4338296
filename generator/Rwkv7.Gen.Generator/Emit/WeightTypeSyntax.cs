using System;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Emit
{
    /// <summary>How the generated code spells each weight type: the runtime's names for it and its stored element.</summary>
    internal static class WeightTypeSyntax
    {
        /// <summary>The <c>TensorDType</c> member, also the type's part of kernel names (<c>MatMulBF16In768</c>).</summary>
        public static string DType(this WeightType type) => type switch
        {
            WeightType.F32 => "F32",
            WeightType.BF16 => "BF16",
            WeightType.Q8 => "Q8",
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a single weight type"),
        };

        /// <summary>The C# type of one stored weight.</summary>
        public static string Element(this WeightType type) => type switch
        {
            WeightType.F32 => "float",
            WeightType.BF16 => "ushort",
            _ => "sbyte",
        };

        /// <summary>The <c>WeightMatrix</c> method that views the stored weights.</summary>
        public static string SpanMethod(this WeightType type) => "As" + type.DType() + "Span";
    }
}
