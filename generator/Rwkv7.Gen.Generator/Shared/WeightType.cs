// Shared by the source generator (netstandard2.0) and the runtime (net10.0): the weight types a shape file can ask
// generated kernels for. Keep this file free of APIs the two do not share.
using System;
using System.Linq;

namespace Rwkv7.Gen.Shapes
{
    /// <summary>
    /// A weight type with generated matrix kernels, as a flag, so that a set of them (a shape file's <c>weights = …</c>,
    /// the generator's <c>ShapeSpec.WeightTypes</c>) is one value-equal enum. Names are the runtime's
    /// (<c>TensorDType.DisplayName</c>); fp16 and q4 matrices always run the width-generic kernels.
    /// </summary>
    [Flags]
    internal enum WeightType
    {
        /// <summary>No type: the empty set.</summary>
        None = 0,

        /// <summary>fp32 weights.</summary>
        F32 = 1,

        /// <summary>bf16 weights, widened to fp32 by a 16-bit shift.</summary>
        BF16 = 2,

        /// <summary>8-bit weights in blocks of <see cref="ModelMath.Q8BlockSize"/>, each row followed by its block scales.</summary>
        Q8 = 4,
    }

    /// <summary>Names of <see cref="WeightType"/> values, and sets of them.</summary>
    internal static class WeightTypeSet
    {
        /// <summary>Every type with generated kernels: what a shape file without <c>weights</c> gets.</summary>
        public const WeightType All = WeightType.F32 | WeightType.BF16 | WeightType.Q8;

        /// <summary>Each type, in the order the generated code and messages list them.</summary>
        public static readonly WeightType[] Listed = { WeightType.BF16, WeightType.F32, WeightType.Q8 };

        /// <summary>The names, in <see cref="Listed"/> order.</summary>
        public static readonly string[] Names = Listed.Select(Name).ToArray();

        /// <summary>The name of one type in shape files and messages: <c>bf16</c>, <c>fp32</c> or <c>q8</c>.</summary>
        public static string Name(this WeightType type)
        {
            switch (type)
            {
                case WeightType.F32: return "fp32";
                case WeightType.BF16: return "bf16";
                case WeightType.Q8: return "q8";
                default: throw new ArgumentOutOfRangeException(nameof(type), type, "not a single weight type");
            }
        }

        /// <summary>The type of a name, or <see cref="WeightType.None"/> for an unknown one (names are lowercase, as every key is).</summary>
        public static WeightType Parse(string name)
        {
            foreach (WeightType type in Listed)
            {
                if (name == type.Name())
                {
                    return type;
                }
            }

            return WeightType.None;
        }

        /// <summary>Whether <paramref name="set"/> holds <paramref name="type"/>.</summary>
        public static bool Includes(this WeightType set, WeightType type) => (set & type) != 0;

        /// <summary>The names of the types in <paramref name="set"/>, in <see cref="Listed"/> order.</summary>
        public static string Describe(WeightType set) => string.Join(", ", Listed.Where(t => set.Includes(t)).Select(Name));
    }
}
