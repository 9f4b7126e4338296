using System.Globalization;

namespace Rwkv7.Gen.Generator.Emit
{
    /// <summary>
    /// One code path of a kernel: a hardware vector width (Vector512/256/128 of float) or plain scalar code.
    /// Produces the expressions kernels are written with, so each kernel body is written once for all widths.
    /// </summary>
    internal sealed class VectorWidth
    {
        public static readonly VectorWidth V512 = new VectorWidth("Vector512", 16);
        public static readonly VectorWidth V256 = new VectorWidth("Vector256", 8);
        public static readonly VectorWidth V128 = new VectorWidth("Vector128", 4);
        public static readonly VectorWidth Scalar = new VectorWidth(null, 1);

        /// <summary>Widest first: the order in which kernels test for hardware support.</summary>
        public static readonly VectorWidth[] All = { V512, V256, V128, Scalar };

        private readonly string? _static;

        private VectorWidth(string? staticClass, int lanes)
        {
            _static = staticClass;
            Lanes = lanes;
        }

        /// <summary>Float lanes per vector (1 for scalar).</summary>
        public int Lanes { get; }

        public bool IsScalar => _static is null;

        /// <summary>Suffix of the methods written for this width: V512, V256, V128 or Scalar.</summary>
        public string Suffix => _static is null ? "Scalar" : "V" + _static.Substring("Vector".Length);

        /// <summary>The width's name in comments.</summary>
        public string Description => _static is null ? "scalar code" : $"{_static}&lt;float&gt; ({Lanes} lanes)";

        /// <summary>The float vector type (or float).</summary>
        public string Float => _static is null ? "float" : _static + "<float>";

        /// <summary>Condition selecting this path.</summary>
        public string IsAccelerated => _static + ".IsHardwareAccelerated";

        public string Zero => _static is null ? "0f" : Float + ".Zero";

        public string Load(string reference, string offset) =>
            _static is null ? $"Unsafe.Add(ref {reference}, {offset})" : $"{_static}.LoadUnsafe(ref {reference}, {offset})";

        public string Store(string value, string reference, string offset) =>
            _static is null ? $"Unsafe.Add(ref {reference}, {offset}) = {value};"
            : value.IndexOf(' ') < 0 ? $"{value}.StoreUnsafe(ref {reference}, {offset});"
            : $"({value}).StoreUnsafe(ref {reference}, {offset});";

        public string Splat(string scalar) => _static is null ? scalar : $"{_static}.Create({scalar})";

        /// <summary>a·b + c, fused where the hardware has FMA.</summary>
        public string Fma(string a, string b, string c) =>
            _static is null ? $"(({Group(a)} * {Group(b)}) + {Group(c)})" : $"{_static}.MultiplyAddEstimate({a}, {b}, {c})";

        /// <summary>Parenthesizes an operand that is not a single token, so scalar expressions keep their meaning.</summary>
        private static string Group(string operand) =>
            operand.Contains(" + ") || operand.Contains(" - ") || operand.Contains(" * ") || operand.Contains(" / ") ? "(" + operand + ")" : operand;

        /// <summary>Horizontal sum of a vector (identity for scalar).</summary>
        public string Sum(string vector) => _static is null ? vector : $"{_static}.Sum({vector})";

        /// <summary>Loads 2·Lanes bf16 weights and widens them to two float vectors, lo (first half) and hi.</summary>
        public string WidenBF16(string reference, string offset, string lo, string hi) =>
            _static is null
                ? $"float {lo} = BFloat16Conversions.ToSingle(Unsafe.Add(ref {reference}, {offset}));"
                : $"Bf16.Widen({_static}.LoadUnsafe(ref {reference}, {offset}), out {Float} {lo}, out {Float} {hi});";

        public static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);
    }
}
