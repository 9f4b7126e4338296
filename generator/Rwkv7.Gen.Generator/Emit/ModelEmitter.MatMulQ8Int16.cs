using System;
using System.Linq;
using Rwkv7.Gen.Generator.Model;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class ModelEmitter
    {
        /// <summary>
        /// One-token products of 8-bit matrices with inputs rounded to 16 bits (Rwkv7.Gen.Specialized.Int16Activations),
        /// for the input widths the plan has them (<see cref="KernelPlan.Int16MatMuls"/>); other widths take the runtime's
        /// width-generic path.
        /// </summary>
        private static void EmitMatMulQ8Int16(IndentedWriter w, KernelPlan plan)
        {
            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open($"public static void MatMulQ8Int16<{Fetch}>(in WeightMatrix w, ReadOnlySpan<short> x, ReadOnlySpan<float> xScales, Span<float> y, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            w.Line("KernelChecks.MatMulQ8Int16(w, x.Length, xScales.Length, y.Length, rowStart, rowEnd);");
            if (plan.Int16MatMuls.Count == 0)
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
            foreach (MatMulPlan m in plan.Int16MatMuls)
            {
                w.Line($"case {m.Inputs}: MatMulQ8Int16In{m.Inputs}<{Fetch}>(ref wr, ref xr, ref xsr, ref yr, rowStart, rowEnd, accumulate); return;");
            }

            w.Close();
            w.Line();
            w.Line("// An input width this model does not have: the width-generic path.");
            w.Line("KernelFallbacks.MatMulQ8Int16(w, x, xScales, y, rowStart, rowEnd, accumulate);");
            w.Close();

            foreach (MatMulPlan m in plan.Int16MatMuls)
            {
                EmitMatMulQ8Int16Dispatch(w, m);
                foreach (MatMulPathPlan path in m.Paths)
                {
                    EmitMatMulQ8Int16Path(w, m, path);
                }
            }
        }

        private static void EmitMatMulQ8Int16Dispatch(IndentedWriter w, MatMulPlan m)
        {
            int n = m.Inputs, block = ModelMath.Q8BlockSize;
            w.Line();
            w.Summary(
                $"Rows [rowStart, rowEnd) of y = W·x for one token with W [rows][{n}] 8-bit (each row's values followed by its {Plural(m.ScalesPerRow, "scale")}) and x rounded "
                + $"to 16 bits (x [{n}] int16, xScales [{m.ScalesPerRow}]): per block of {block}, the int8 × int16 products summed exactly "
                + "in integers, then scaled by the weight and input scales. Without 512- or 256-bit x86 vectors the inputs are "
                + "restored to fp32 and the fp32-widening product runs.");
            w.Open($"private static void MatMulQ8Int16In{n}<{Fetch}>(ref sbyte w, ref short x, ref float xScales, ref float y, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            for (int i = 0; i < m.Paths.Count; i++)
            {
                VectorWidth v = VectorWidth.Of(m.Paths[i].Path);
                w.Open((i == 0 ? "if (" : "else if (") + v.IsAccelerated + ")");
                w.Line($"MatMulQ8Int16In{n}{v.Suffix}<{Fetch}>(ref w, ref x, ref xScales, ref y, rowStart, rowEnd, accumulate);");
                w.Close();
            }

            w.Open("else");
            w.Line($"Span<float> restored = stackalloc float[{n}];");
            w.Open($"for (int i = 0; i < {n}; i++)");
            w.Line($"restored[i] = Unsafe.Add(ref x, i) * Unsafe.Add(ref xScales, i / {block});");
            w.Close();
            w.Line();
            w.Line($"MatMulQ8In{n}<{Fetch}>(ref w, ref MemoryMarshal.GetReference(restored), ref y, 1, {n}, rowStart, rowEnd, accumulate);");
            w.Close();
            w.Close();
        }

        /// <summary>
        /// The 512- or 256-bit one-token 8-bit product with 16-bit inputs: row tiles, two blocks of 32 inputs per
        /// iteration (even blocks into a{k}, odd into b{k}; an odd last block alone into a{k}); per block and row one sign-extension of 32 int8 weights to
        /// int16, <c>vpmaddwd</c> against the block's inputs (on 256 bits: two of each, added), one conversion, one
        /// multiply by the input scale and one FMA with the weight scale.
        /// </summary>
        private static void EmitMatMulQ8Int16Path(IndentedWriter w, MatMulPlan m, MatMulPathPlan path)
        {
            VectorWidth v = VectorWidth.Of(path.Path);
            RowTiles tiles = path.OneToken ?? throw new InvalidOperationException($"MatMulQ8Int16In{m.Inputs}{v.Suffix}: no tiles in the plan");
            bool wide = v.Lanes == 16;
            int n = m.Inputs, stride = m.RowStride, block = ModelMath.Q8BlockSize, full = tiles.Full.Rows;
            w.Line();
            w.Summary(
                $"<see cref=\"MatMulQ8Int16In{n}\"/> with {v.Description}: {full} rows per tile, {path.Steps} blocks of {block} inputs per row, "
                + $"each row's values and scales ({stride} bytes) requested whole tiles ({full * stride} bytes) ahead, at least the prefetch policy's distance.");
            w.Line(AggressiveOptimization);
            w.Open($"private static void MatMulQ8Int16In{n}{v.Suffix}<{Fetch}>(ref sbyte w, ref short x, ref float xScales, ref float y, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            w.Line("ref float yt0 = ref y;");
            w.Line("int r = rowStart;");
            foreach ((TilePlan tile, bool whole) in new[] { (tiles.Full, true), (tiles.Rest, false) })
            {
                int rows = tile.Rows;
                w.Open(whole ? $"for (; r + {rows} <= rowEnd; r += {rows})" : "for (; r < rowEnd; r++)");
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

                if (tile.Prefetch is TilePrefetch prefetch)
                {
                    EmitFetchDistance(w, rows, prefetch);
                    EmitScalesPrefetch(w, rows, prefetch);
                }

                // An iteration reads one cache line of each row's values; its first block requests the line fetch elements further on.
                int paired = tile.Iterations * tile.Unroll * block;
                if (paired > 0)
                {
                    w.Open($"for (nuint i = 0; i < {paired}; i += {tile.Unroll * block})");
                    EmitRequests("i + fetch");
                    EmitBlock("a", "a", k => k == 0 ? "i" : $"i + {k}", $"i / {block}");
                    EmitBlock("b", "b", k => k == 0 ? $"i + {block}" : $"i + {block} + {k}", $"(i / {block}) + 1");
                    w.Close();
                }

                if (tile.Alone > 0)
                {
                    // An odd number of blocks: the last one alone (its inputs named apart from the loop's).
                    EmitRequests(paired == 0 ? "fetch" : $"{paired} + fetch");
                    EmitBlock("a", "l", k => (paired + k).ToString(System.Globalization.CultureInfo.InvariantCulture), $"{paired / block}");
                }

                void EmitRequests(string at)
                {
                    if (tile.Prefetch is not null && tile.Prefetch.RequestingSteps.Contains(0))
                    {
                        w.Open("if (fetch != 0)");
                        for (int k = 0; k < rows; k++)
                        {
                            w.Line($"{Fetch}.Line(ref w{k}, {at});");
                        }

                        w.Close();
                    }
                }

                // One block of 32 inputs into the accumulators acc, its inputs and scale named x{tag} and s{tag}, at(k)
                // the expression of its input k's offset.
                void EmitBlock(string acc, string tag, Func<int, string> at, string index)
                {
                    w.Line($"// block {index}: inputs [{at(0)}, {at(block)})");
                    if (wide)
                    {
                        w.Line($"Vector512<short> x{tag} = Vector512.LoadUnsafe(ref x, {at(0)});");
                    }
                    else
                    {
                        w.Line($"Vector256<short> x{tag} = Vector256.LoadUnsafe(ref x, {at(0)}), x{tag}1 = Vector256.LoadUnsafe(ref x, {at(16)});");
                    }

                    w.Line($"{v.Float} s{tag} = {v.Splat($"Unsafe.Add(ref xScales, {index})")};");
                    for (int k = 0; k < rows; k++)
                    {
                        string sums = wide
                            ? $"Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref w{k}, {at(0)})), x{tag}))"
                            : $"Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref w{k}, {at(0)})), x{tag}) + Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref w{k}, {at(16)})), x{tag}1))";
                        w.Line($"{acc}{k} = {v.Fma($"{sums} * s{tag}", v.Splat($"Unsafe.Add(ref sc{k}, {index})"), $"{acc}{k}")};");
                    }
                }

                EmitReduction(w, v, tile, "accumulate");
                w.Close();
            }

            w.Close();
        }
    }
}
