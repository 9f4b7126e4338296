using System;
using System.Collections.Generic;
using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class ModelEmitter
    {
        /// <summary>
        /// One-token products of 8-bit matrices with inputs rounded to 16 bits (Rwkv7.Gen.Specialized.Int16Activations),
        /// written for the input widths of the decode products: the embedding (r, k, v, output, FFN key, head) and the
        /// FFN (FFN value). Other widths take the runtime's width-generic path.
        /// </summary>
        private static void EmitMatMulQ8Int16(IndentedWriter w, ShapeSpec s)
        {
            // Two blocks per loop iteration: widths that are not a multiple of 64 take the width-generic path.
            // Without q8 kernels (weights = … in the shape file) every width takes the width-generic path.
            var dims = new SortedSet<int>();
            foreach (int n in new[] { s.Embedding, s.Ffn })
            {
                if (n % (2 * Q8Block) == 0 && s.Generates(WeightTypeSet.Q8))
                {
                    dims.Add(n);
                }
            }

            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open($"public static void MatMulQ8Int16<{Fetch}>(in WeightMatrix w, ReadOnlySpan<short> x, ReadOnlySpan<float> xScales, Span<float> y, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            w.Line("KernelChecks.MatMulQ8Int16(w, x.Length, xScales.Length, y.Length, rowStart, rowEnd);");
            if (dims.Count == 0)
            {
                w.Line("// No q8 kernels in this model (the shape file's 'weights'): the width-generic path.");
                w.Line("KernelFallbacks.MatMulQ8Int16(w, x, xScales, y, rowStart, rowEnd, accumulate);");
                w.Close();
                return;
            }

            w.Line("ref sbyte wr = ref MemoryMarshal.GetReference(w.AsQ8Span());");
            w.Line("ref short xr = ref MemoryMarshal.GetReference(x);");
            w.Line("ref float xsr = ref MemoryMarshal.GetReference(xScales);");
            w.Line("ref float yr = ref MemoryMarshal.GetReference(y);");
            w.Open("switch (w.Cols)");
            foreach (int n in dims)
            {
                w.Line($"case {n}: MatMulQ8Int16In{n}<{Fetch}>(ref wr, ref xr, ref xsr, ref yr, rowStart, rowEnd, accumulate); return;");
            }

            w.Close();
            w.Line();
            w.Line("// An input width this model does not have: the width-generic path.");
            w.Line("KernelFallbacks.MatMulQ8Int16(w, x, xScales, y, rowStart, rowEnd, accumulate);");
            w.Close();

            foreach (int n in dims)
            {
                EmitMatMulQ8Int16Dispatch(w, n);
                EmitMatMulQ8Int16Width(w, n, VectorWidth.V512);
                EmitMatMulQ8Int16Width(w, n, VectorWidth.V256);
            }
        }

        private static void EmitMatMulQ8Int16Dispatch(IndentedWriter w, int n)
        {
            w.Line();
            w.Summary(
                $"Rows [rowStart, rowEnd) of y = W·x for one token with W [rows][{n}] 8-bit (each row's values followed by its {Plural(n / Q8Block, "scale")}) and x rounded "
                + $"to 16 bits (x [{n}] int16, xScales [{n / Q8Block}]): per block of {Q8Block}, the int8 × int16 products summed exactly "
                + "in integers, then scaled by the weight and input scales. Without 512- or 256-bit x86 vectors the inputs are "
                + "restored to fp32 and the fp32-widening product runs.");
            w.Open($"private static void MatMulQ8Int16In{n}<{Fetch}>(ref sbyte w, ref short x, ref float xScales, ref float y, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            w.Open("if (Vector512.IsHardwareAccelerated)");
            w.Line($"MatMulQ8Int16In{n}V512<{Fetch}>(ref w, ref x, ref xScales, ref y, rowStart, rowEnd, accumulate);");
            w.Close();
            w.Open("else if (Vector256.IsHardwareAccelerated)");
            w.Line($"MatMulQ8Int16In{n}V256<{Fetch}>(ref w, ref x, ref xScales, ref y, rowStart, rowEnd, accumulate);");
            w.Close();
            w.Open("else");
            w.Line($"Span<float> restored = stackalloc float[{n}];");
            w.Open($"for (int i = 0; i < {n}; i++)");
            w.Line($"restored[i] = Unsafe.Add(ref x, i) * Unsafe.Add(ref xScales, i / {Q8Block});");
            w.Close();
            w.Line();
            w.Line($"MatMulQ8In{n}<{Fetch}>(ref w, ref MemoryMarshal.GetReference(restored), ref y, 1, {n}, rowStart, rowEnd, accumulate);");
            w.Close();
            w.Close();
        }

        /// <summary>
        /// The 512- or 256-bit one-token 8-bit product with 16-bit inputs: 4-row tiles, two blocks of 32 inputs per
        /// iteration (even blocks into a{k}, odd into b{k}); per block and row one sign-extension of 32 int8 weights to
        /// int16, <c>vpmaddwd</c> against the block's inputs (on 256 bits: two of each, added), one conversion, one
        /// multiply by the input scale and one FMA with the weight scale.
        /// </summary>
        private static void EmitMatMulQ8Int16Width(IndentedWriter w, int n, VectorWidth v)
        {
            bool wide = v.Lanes == 16;
            int blocks = n / Q8Block;
            int stride = RowStride("Q8", n);
            w.Line();
            w.Summary(
                $"<see cref=\"MatMulQ8Int16In{n}\"/> with {v.Description}: {RowTile} rows per tile, {blocks} blocks of {Q8Block} inputs per row, "
                + $"each row's values and scales ({stride} bytes) requested whole tiles ({RowTile * stride} bytes) ahead, at least the prefetch policy's distance.");
            w.Line(AggressiveOptimization);
            w.Open($"private static void MatMulQ8Int16In{n}{v.Suffix}<{Fetch}>(ref sbyte w, ref short x, ref float xScales, ref float y, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            w.Line("ref float yt0 = ref y;");
            w.Line("int r = rowStart;");
            for (int rows = RowTile; rows >= 1; rows -= RowTile - 1)
            {
                w.Open(rows == RowTile ? $"for (; r + {RowTile} <= rowEnd; r += {RowTile})" : "for (; r < rowEnd; r++)");
                w.Line($"ref sbyte w0 = ref Unsafe.Add(ref w, (nint)r * {stride});");
                for (int k = 1; k < rows; k++)
                {
                    w.Line($"ref sbyte w{k} = ref Unsafe.Add(ref w0, {k * stride});");
                }

                EmitRowScales(w, rows, n);

                for (int k = 0; k < rows; k++)
                {
                    w.Line($"{v.Float} a{k} = {v.Zero}, b{k} = {v.Zero};");
                }

                if (rows == RowTile)
                {
                    EmitFetchDistance(w, RowTile, stride, 1);
                    EmitScalesPrefetch(w, RowTile, n);
                }

                w.Open($"for (nuint i = 0; i < {n}; i += {2 * Q8Block})");
                if (rows == RowTile)
                {
                    w.Open("if (fetch != 0)");
                    for (int k = 0; k < rows; k++)
                    {
                        w.Line($"{Fetch}.Line(ref w{k}, i + fetch);");
                    }

                    w.Close();
                }

                foreach ((string acc, string at, string block) in new[] { ("a", "i", $"i / {Q8Block}"), ("b", $"i + {Q8Block}", $"(i / {Q8Block}) + 1") })
                {
                    w.Line($"// block {block}: inputs [{at}, {at} + {Q8Block})");
                    if (wide)
                    {
                        w.Line($"Vector512<short> x{acc} = Vector512.LoadUnsafe(ref x, {at});");
                    }
                    else
                    {
                        w.Line($"Vector256<short> x{acc} = Vector256.LoadUnsafe(ref x, {at}), x{acc}1 = Vector256.LoadUnsafe(ref x, {at} + 16);");
                    }

                    w.Line($"{v.Float} s{acc} = {v.Splat($"Unsafe.Add(ref xScales, {block})")};");
                    for (int k = 0; k < rows; k++)
                    {
                        string sums = wide
                            ? $"Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref w{k}, {at})), x{acc}))"
                            : $"Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref w{k}, {at})), x{acc}) + Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref w{k}, {at} + 16)), x{acc}1))";
                        w.Line($"{acc}{k} = {v.Fma($"{sums} * s{acc}", v.Splat($"Unsafe.Add(ref sc{k}, {block})"), $"{acc}{k}")};");
                    }
                }

                w.Close();
                if (rows == RowTile)
                {
                    if (wide)
                    {
                        EmitReduce512(w, v, RowTile, 1, split: true, "accumulate");
                    }
                    else
                    {
                        EmitReduceFour(w, 0, 1, split: true, "accumulate");
                    }
                }
                else
                {
                    EmitReduceRows(w, v, 0, 1, 0, 1, split: true, "accumulate");
                }

                w.Close();
            }

            w.Close();
        }

        /// <summary>
        /// Requests the scales of the rows <c>fetch</c> bytes further on (the 4·n/32 bytes after each row's n values): one
        /// request per 64 bytes and one for the last byte, which covers every line whatever the alignment. The values'
        /// requests (<see cref="EmitPrefetch"/>) cover [0, n) of each row. Without them the scales arrive on demand: one
        /// thread's 8-bit FFN value step took 1.02–1.14 against 0.91–1.09 ms/token with them (docs/benchmarks.md,
        /// change 23, when the scales were a separate array).
        /// </summary>
        private static void EmitScalesPrefetch(IndentedWriter w, int rows, int n)
        {
            int bytes = n / Q8Block * sizeof(float);
            var offsets = new List<int>();
            for (int b = 0; b < bytes; b += CacheLine)
            {
                offsets.Add(b);
            }

            if ((bytes - 1) % CacheLine != 0)
            {
                offsets.Add(bytes - 1);
            }

            w.Open("if (fetch != 0)");
            for (int k = 0; k < rows; k++)
            {
                foreach (int b in offsets)
                {
                    w.Line($"{Fetch}.Line(ref w{k}, fetch + {n + b});");
                }
            }

            w.Close();
        }
    }
}
