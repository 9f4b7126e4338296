using System.Globalization;
using Rwkv7.Gen.Generator.Model;

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

        /// <summary>The width of a planned path.</summary>
        public static VectorWidth Of(VectorPath path) => path switch
        {
            VectorPath.V512 => V512,
            VectorPath.V256 => V256,
            VectorPath.V128 => V128,
            _ => Scalar,
        };

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

        /// <summary>
        /// Statements loading 2·Lanes bf16 weights into two float vectors, lo (first half) and hi: zero-extend each
        /// 16-bit lane and shift it into the upper half of a float. Written with intrinsics only (no helper calls), so
        /// large kernels never run out of JIT inlining budget.
        /// </summary>
        public string[] WidenBF16(string reference, string offset, string lo, string hi)
        {
            string packed = "p" + lo;
            return new[]
            {
                $"{_static}<ushort> {packed} = {_static}.LoadUnsafe(ref {reference}, {offset});",
                $"{Float} {lo} = {_static}.ShiftLeft({_static}.WidenLower({packed}), 16).AsSingle();",
                $"{Float} {hi} = {_static}.ShiftLeft({_static}.WidenUpper({packed}), 16).AsSingle();",
            };
        }

        /// <summary>
        /// Statements loading 2·Lanes int8 weights into two float vectors: sign-extend and convert, with the one-instruction
        /// x86 conversions on the 512- and 256-bit paths (which only run where AVX-512 or AVX2 exists) and portable
        /// widening on the 128-bit path.
        /// </summary>
        public string[] WidenInt8(string reference, string offset, string lo, string hi)
        {
            switch (Lanes)
            {
                case 16:
                    return new[]
                    {
                        $"{Float} {lo} = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref {reference}, {offset})));",
                        $"{Float} {hi} = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref {reference}, ({offset}) + 16)));",
                    };
                case 8:
                    string packed = "p" + lo;
                    return new[]
                    {
                        $"Vector128<sbyte> {packed} = Vector128.LoadUnsafe(ref {reference}, {offset});",
                        $"{Float} {lo} = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32({packed}));",
                        $"{Float} {hi} = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane({packed}, 8)));",
                    };
                default:
                    string half = "s" + lo;
                    return new[]
                    {
                        $"Vector128<short> {half} = Vector128.WidenLower(Vector128.CreateScalar(Unsafe.ReadUnaligned<long>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref {reference}, {offset})))).AsSByte());",
                        $"{Float} {lo} = Vector128.ConvertToSingle(Vector128.WidenLower({half}));",
                        $"{Float} {hi} = Vector128.ConvertToSingle(Vector128.WidenUpper({half}));",
                    };
            }
        }

        public static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);
    }
}
