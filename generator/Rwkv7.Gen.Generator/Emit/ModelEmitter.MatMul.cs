using Rwkv7.Gen.Generator.Model;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class ModelEmitter
    {
        /// <summary>Rows of W handled together: each x vector loaded is used four times.</summary>
        private const int RowTile = 4;

        /// <summary>Most steps written out inside one iteration of a product's inner loop.</summary>
        private const int MaxUnroll = 4;

        private static readonly (string Name, string Element, string Span)[] WeightTypes =
        {
            ("BF16", "ushort", "AsBF16Span"),
            ("F32", "float", "AsF32Span"),
        };

        private static void EmitMatMul(IndentedWriter w, ShapeSpec s)
        {
            var dims = InnerDims(s);

            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open("public static void MatMul(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)");
            w.Line("KernelChecks.MatMul(w, x.Length, y.Length, tokens, yStride, rowStart, rowEnd);");
            w.Line("ref float xr = ref MemoryMarshal.GetReference(x);");
            w.Line("ref float yr = ref MemoryMarshal.GetReference(y);");
            foreach ((string type, string element, string span) in WeightTypes)
            {
                w.Open($"if (w.Type == TensorDType.{type})");
                w.Line($"ref {element} wr = ref MemoryMarshal.GetReference(w.{span}());");
                w.Open("switch (w.Cols)");
                foreach (int n in dims)
                {
                    w.Line($"case {n}: MatMul{type}In{n}(ref wr, ref xr, ref yr, tokens, yStride, rowStart, rowEnd, accumulate); return;");
                }

                w.Close();
                w.Close();
            }

            w.Line();
            w.Line("// fp16 matrices, or an input width this model does not have: the width-generic path.");
            w.Line("KernelFallbacks.MatMul(w, x, y, tokens, yStride, rowStart, rowEnd, accumulate);");
            w.Close();

            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open("public static void FfnHidden(in WeightMatrix key, ReadOnlySpan<float> x, Span<float> hidden, int tokens, int rowStart, int rowEnd)");
            w.Line("// [T][F] = relu([F][D] · [T][D])²");
            w.Line("MatMul(key, x, hidden, tokens, F, rowStart, rowEnd, accumulate: false);");
            w.Open("for (int t = 0; t < tokens; t++)");
            w.Line("Span<float> part = hidden.Slice((t * F) + rowStart, rowEnd - rowStart);");
            w.Line("TensorPrimitives.Max(part, 0f, part);");
            w.Line("TensorPrimitives.Multiply(part, part, part);");
            w.Close();
            w.Close();

            foreach ((string type, string element, _) in WeightTypes)
            {
                foreach (int n in dims)
                {
                    EmitMatMulDispatch(w, type, element, n);
                    foreach (VectorWidth width in VectorWidth.All)
                    {
                        EmitMatMulWidth(w, type, element, n, width);
                    }
                }
            }
        }

        private static void EmitMatMulDispatch(IndentedWriter w, string type, string element, int n)
        {
            w.Line();
            w.Summary($"Rows [rowStart, rowEnd) of y = W·x with W [rows][{n}] {type.ToLowerInvariant()}, x [tokens][{n}], y [tokens][yStride].");
            w.Open($"private static void MatMul{type}In{n}(ref {element} w, ref float x, ref float y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)");
            string args = "(ref w, ref x, ref y, tokens, yStride, rowStart, rowEnd, accumulate);";
            for (int i = 0; i < VectorWidth.All.Length; i++)
            {
                VectorWidth v = VectorWidth.All[i];
                string call = $"MatMul{type}In{n}{v.Suffix}{args}";
                if (v.IsScalar)
                {
                    w.Open("else");
                }
                else
                {
                    w.Open((i == 0 ? "if (" : "else if (") + v.IsAccelerated + ")");
                }

                w.Line(call);
                w.Close();
            }

            w.Close();
        }

        private static void EmitMatMulWidth(IndentedWriter w, string type, string element, int n, VectorWidth v)
        {
            bool bf16 = type == "BF16";

            // One step consumes 2·lanes inputs as two vectors (lo, hi): a bf16 step is one load widened in two.
            int stepElems = 2 * v.Lanes;
            int steps = n / stepElems;
            int unroll = steps % MaxUnroll == 0 ? MaxUnroll : steps % 2 == 0 ? 2 : 1;
            int iterations = steps / unroll;

            w.Line();
            w.Summary(
                $"<see cref=\"MatMul{type}In{n}\"/> with {v.Description}: " + (v.IsScalar
                    ? "one row and one input at a time."
                    : $"{RowTile} rows per tile; {Plural(steps, "step")} of {stepElems} inputs, " + (iterations == 1
                        ? "all written out."
                        : $"{unroll} written out per iteration of a loop of {iterations}.")));
            w.Line(AggressiveOptimization);
            w.Open($"private static void MatMul{type}In{n}{v.Suffix}(ref {element} w, ref float x, ref float y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)");
            w.Open("for (int t = 0; t < tokens; t++)");
            w.Line($"ref float xt = ref Unsafe.Add(ref x, (nint)t * {n});");
            w.Line("ref float yt = ref Unsafe.Add(ref y, (nint)t * yStride);");
            w.Line("int r = rowStart;");
            if (!v.IsScalar)
            {
                w.Open($"for (; r + {RowTile} <= rowEnd; r += {RowTile})");
                EmitRowTile(w, element, n, v, bf16, RowTile, steps, unroll, iterations);
                w.Close();
                w.Line();
            }

            w.Open("for (; r < rowEnd; r++)");
            if (v.IsScalar)
            {
                w.Line($"ref {element} w0 = ref Unsafe.Add(ref w, (nint)r * {n});");
                w.Line("float sum = 0f;");
                w.Open($"for (nint i = 0; i < {n}; i++)");
                string weight = bf16 ? "BFloat16Conversions.ToSingle(Unsafe.Add(ref w0, i))" : "Unsafe.Add(ref w0, i)";
                w.Line($"sum += {weight} * Unsafe.Add(ref xt, i);");
                w.Close();
                w.Line("ref float o = ref Unsafe.Add(ref yt, r);");
                w.Line("o = accumulate ? o + sum : sum;");
            }
            else
            {
                EmitRowTile(w, element, n, v, bf16, 1, steps, unroll, iterations);
            }

            w.Close();
            w.Close();
            w.Close();
        }

        private static string Plural(int count, string noun) => count == 1 ? $"1 {noun}" : $"{count} {noun}s";

        /// <summary>Dot products of <paramref name="rows"/> consecutive rows with xt, stored into yt[r..].</summary>
        private static void EmitRowTile(IndentedWriter w, string element, int n, VectorWidth v, bool bf16, int rows, int steps, int unroll, int iterations)
        {
            int stepElems = 2 * v.Lanes;
            w.Line($"ref {element} w0 = ref Unsafe.Add(ref w, (nint)r * {n});");
            for (int k = 1; k < rows; k++)
            {
                w.Line($"ref {element} w{k} = ref Unsafe.Add(ref w0, {k * n});");
            }

            for (int k = 0; k < rows; k++)
            {
                w.Line($"{v.Float} a{k} = {v.Zero}, b{k} = {v.Zero};");
            }

            bool loop = iterations > 1;
            if (loop)
            {
                w.Open($"for (nuint i = 0; i < {n}; i += {unroll * stepElems})");
            }

            for (int u = 0; u < unroll; u++)
            {
                string off = loop ? (u == 0 ? "i" : $"i + {u * stepElems}") : VectorWidth.Int(u * stepElems);
                string offHi = loop ? $"i + {(u * stepElems) + v.Lanes}" : VectorWidth.Int((u * stepElems) + v.Lanes);
                w.Open($"// inputs [{u * stepElems}, {(u + 1) * stepElems}) of this {(loop ? "iteration" : "row")}");
                w.Line($"{v.Float} xl = {v.Load("xt", off)}, xh = {v.Load("xt", offHi)};");
                for (int k = 0; k < rows; k++)
                {
                    if (bf16)
                    {
                        w.Line(v.WidenBF16($"w{k}", off, $"l{k}", $"h{k}"));
                    }
                    else
                    {
                        w.Line($"{v.Float} l{k} = {v.Load($"w{k}", off)}, h{k} = {v.Load($"w{k}", offHi)};");
                    }

                    w.Line($"a{k} = {v.Fma($"l{k}", "xl", $"a{k}")};");
                    w.Line($"b{k} = {v.Fma($"h{k}", "xh", $"b{k}")};");
                }

                w.Close();
            }

            if (loop)
            {
                w.Close();
            }

            for (int k = 0; k < rows; k++)
            {
                string target = k == 0 ? "r" : $"r + {k}";
                w.Line($"ref float o{k} = ref Unsafe.Add(ref yt, {target});");
                w.Line($"float s{k} = {v.Sum($"a{k} + b{k}")};");
                w.Line($"o{k} = accumulate ? o{k} + s{k} : s{k};");
            }
        }
    }
}
