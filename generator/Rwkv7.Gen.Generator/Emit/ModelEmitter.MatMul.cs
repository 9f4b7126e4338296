using System;
using System.Collections.Generic;
using System.Linq;
using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class ModelEmitter
    {
        /// <summary>
        /// The type parameter of every kernel that streams weights: the prefetch policy (Rwkv7.Gen.Specialized.IWeightPrefetch)
        /// the engine picks when it starts (<see cref="KernelPlan.Prefetch"/>). Its hint and distance are constants in each
        /// instantiation, so a kernel holds no branch and reads no static for them.
        /// </summary>
        private const string Fetch = "TPrefetch";

        /// <summary>The constraint clause of a kernel generic over <see cref="Fetch"/>.</summary>
        private const string FetchConstraint = "where TPrefetch : struct, IWeightPrefetch";

        private static void EmitMatMul(IndentedWriter w, KernelPlan plan)
        {
            ShapeSpec s = plan.Shape;
            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open($"public static void MatMul<{Fetch}>(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            w.Line("KernelChecks.MatMul(w, x.Length, y.Length, tokens, yStride, rowStart, rowEnd);");
            w.Line("ref float xr = ref MemoryMarshal.GetReference(x);");
            w.Line("ref float yr = ref MemoryMarshal.GetReference(y);");
            foreach (WeightType type in plan.WeightTypes)
            {
                w.Open($"if (w.Type == TensorDType.{type.DType()})");
                w.Line($"ref {type.Element()} wr = ref MemoryMarshal.GetReference(w.{type.SpanMethod()}());");
                w.Open("switch (w.Cols)");
                foreach (MatMulPlan m in plan.MatMuls.Where(m => m.Type == type))
                {
                    w.Line($"case {m.Inputs}: {Name(m)}<{Fetch}>(ref wr, ref xr, ref yr, tokens, yStride, rowStart, rowEnd, accumulate); return;");
                }

                w.Close();
                w.Close();
            }

            w.Line();
            w.Line(s.WeightTypes == WeightTypeSet.All
                ? "// fp16 matrices, or an input width this model does not have: the width-generic path."
                : $"// fp16 matrices, types this model has no kernels for (weights = {WeightTypeSet.Describe(s.WeightTypes)}), or an input width it does not have: the width-generic path.");
            w.Line("KernelFallbacks.MatMul(w, x, y, tokens, yStride, rowStart, rowEnd, accumulate);");
            w.Close();

            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open($"public static void FfnHidden<{Fetch}>(in WeightMatrix key, ReadOnlySpan<float> x, Span<float> hidden, int tokens, int rowStart, int rowEnd) {FetchConstraint}");
            w.Line("// [T][F] = relu([F][D] · [T][D])²");
            w.Line($"MatMul<{Fetch}>(key, x, hidden, tokens, F, rowStart, rowEnd, accumulate: false);");
            w.Open("for (int t = 0; t < tokens; t++)");
            w.Line("Activations.SquaredRelu(hidden.Slice((t * F) + rowStart, rowEnd - rowStart));");
            w.Close();
            w.Close();

            foreach (MatMulPlan m in plan.MatMuls)
            {
                EmitMatMulDispatch(w, m);
                foreach (MatMulPathPlan path in m.Paths)
                {
                    EmitMatMulPath(w, m, path);
                }
            }
        }

        /// <summary>The name of a product's entry (its paths add their width's suffix): <c>MatMulBF16In768</c>.</summary>
        private static string Name(MatMulPlan m) => $"MatMul{m.Type.DType()}In{m.Inputs}";

        private static void EmitMatMulDispatch(IndentedWriter w, MatMulPlan m)
        {
            int n = m.Inputs;
            w.Line();
            w.Summary(
                $"Rows [rowStart, rowEnd) of y = W·x with W [rows][{n}] {m.Type.DType().ToLowerInvariant()}, x [tokens][{n}], y [tokens][yStride]"
                + (m.ScalesPerRow > 0 ? $"; each row's {n} values followed by its {Plural(m.ScalesPerRow, "scale")}, one per block of {ModelMath.Q8BlockSize} weights ({m.RowStride} bytes)." : "."));
            w.Open($"private static void {Name(m)}<{Fetch}>(ref {m.Type.Element()} w, ref float x, ref float y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            string args = $"(ref w, ref x, ref y, tokens, yStride, rowStart, rowEnd, accumulate);";
            for (int i = 0; i < m.Paths.Count; i++)
            {
                MatMulPathPlan path = m.Paths[i];
                VectorWidth v = VectorWidth.Of(path.Path);
                w.Open(v.IsScalar ? "else" : (i == 0 ? "if (" : "else if (") + v.IsAccelerated + ")");
                w.Line($"{Name(m)}{v.Suffix}{(path.TakesPrefetch ? $"<{Fetch}>" : "")}{args}");
                w.Close();
            }

            w.Close();
        }

        private static void EmitMatMulPath(IndentedWriter w, MatMulPlan m, MatMulPathPlan path)
        {
            VectorWidth v = VectorWidth.Of(path.Path);
            string name = Name(m) + v.Suffix;
            string element = m.Type.Element();
            string generic = path.TakesPrefetch ? $"<{Fetch}>" : "";
            string constraint = path.TakesPrefetch ? " " + FetchConstraint : "";
            string parameters = $"(ref {element} w, ref float x, ref float y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)";
            w.Line();
            if (path.OneToken is not RowTiles one)
            {
                w.Summary($"<see cref=\"{Name(m)}\"/> with {v.Description}: one row and one input at a time.");
                w.Line(AggressiveOptimization);
                w.Open($"private static void {name}{generic}{parameters}{constraint}");
                EmitScalarMatMul(w, m);
                w.Close();
                return;
            }

            RowTiles multi = path.MultiToken ?? throw new InvalidOperationException($"{name}: a vector path needs multi-token tiles");
            int tokens = multi.Full.Tokens;
            w.Summary(
                $"<see cref=\"{Name(m)}\"/> with {v.Description}: {multi.Full.Rows} rows × {tokens} tokens per tile while {tokens} or more tokens remain (each weight vector"
                + $" serves {tokens} tokens), then {one.Full.Rows} rows × 1 token; {Plural(path.Steps, "step")} of {path.StepInputs} inputs per row.");
            w.Line(AggressiveOptimization);
            w.Open($"private static void {name}{generic}{parameters}{constraint}");
            w.Line($"int t = tokens >= {tokens} ? {name}Tiles{generic}(ref w, ref x, ref y, tokens, yStride, rowStart, rowEnd, accumulate) : 0;");
            w.Open("for (; t < tokens; t++)");
            EmitTokenRefs(w, m.Inputs, 1);
            w.Line("int r = rowStart;");
            w.Open($"for (; r + {one.Full.Rows} <= rowEnd; r += {one.Full.Rows})");
            EmitTile(w, m, path, one.Full);
            w.Close();
            w.Open("for (; r < rowEnd; r++)");
            EmitTile(w, m, path, one.Rest);
            w.Close();
            w.Close();
            w.Close();

            // Several tokens at once (prefill, batch decode) in a method of their own: each method stays small enough
            // for the JIT to keep every accumulator in a register.
            w.Line();
            w.Summary($"The multi-token part of <see cref=\"{name}\"/>: whole tiles of {tokens} tokens; returns the tokens done.");
            w.Line(AggressiveOptimization);
            w.Open($"private static int {name}Tiles{generic}{parameters}{constraint}");
            int n = m.Inputs, block = multi.Full.Block;
            string? blockStart = null;
            string accumulate = "accumulate";
            w.Line($"int tiled = tokens / {tokens} * {tokens};");
            if (block < n)
            {
                w.Line($"// inputs in {n / block} blocks of {block}: one token tile's inputs and one row tile's weights then fit in L1 together");
                w.Open($"for (int k0 = 0; k0 < {n}; k0 += {block})");
                w.Line("bool add = accumulate || k0 != 0;");
                blockStart = "(nuint)k0";
                accumulate = "add";
            }

            w.Line("int r = rowStart;");
            w.Open($"for (; r + {multi.Full.Rows} <= rowEnd; r += {multi.Full.Rows})");
            w.Open($"for (int t = 0; t < tiled; t += {tokens})");
            EmitTokenRefs(w, n, tokens);
            EmitTile(w, m, path, multi.Full, blockStart, accumulate);
            w.Close();
            w.Close();
            w.Open("for (; r < rowEnd; r++)");
            w.Open($"for (int t = 0; t < tiled; t += {tokens})");
            EmitTokenRefs(w, n, tokens);
            EmitTile(w, m, path, multi.Rest, blockStart, accumulate);
            w.Close();
            w.Close();
            if (block < n)
            {
                w.Close();
            }

            w.Line();
            w.Line("return tiled;");
            w.Close();
        }

        private static void EmitTokenRefs(IndentedWriter w, int n, int tokens)
        {
            for (int m = 0; m < tokens; m++)
            {
                string t = m == 0 ? "t" : $"(t + {m})";
                w.Line($"ref float xt{m} = ref Unsafe.Add(ref x, (nint){t} * {n});");
                w.Line($"ref float yt{m} = ref Unsafe.Add(ref y, (nint){t} * yStride);");
            }
        }

        private static void EmitScalarMatMul(IndentedWriter w, MatMulPlan m)
        {
            int n = m.Inputs;
            w.Open("for (int t = 0; t < tokens; t++)");
            w.Line($"ref float xt = ref Unsafe.Add(ref x, (nint)t * {n});");
            w.Line("ref float yt = ref Unsafe.Add(ref y, (nint)t * yStride);");
            w.Open("for (int r = rowStart; r < rowEnd; r++)");
            w.Line($"ref {m.Type.Element()} w0 = ref Unsafe.Add(ref w, (nint)r * {m.RowStride});");
            if (m.ScalesPerRow > 0)
            {
                EmitRowScales(w, 1, n);
            }

            w.Line("float sum = 0f;");
            w.Open($"for (nint i = 0; i < {n}; i++)");
            string weight = m.Type switch
            {
                WeightType.BF16 => "BFloat16Conversions.ToSingle(Unsafe.Add(ref w0, i))",
                WeightType.Q8 => $"(Unsafe.Add(ref sc0, i / {ModelMath.Q8BlockSize}) * Unsafe.Add(ref w0, i))",
                _ => "Unsafe.Add(ref w0, i)",
            };
            w.Line($"sum += {weight} * Unsafe.Add(ref xt, i);");
            w.Close();
            w.Line("ref float o = ref Unsafe.Add(ref yt, r);");
            w.Line("o = accumulate ? o + sum : sum;");
            w.Close();
            w.Close();
        }

        private static string Plural(int count, string noun) => count == 1 ? $"1 {noun}" : $"{count} {noun}s";

        /// <summary>
        /// Dot products of the tile's rows (from r) with its token rows of x (xt0…), written or added into yt0…[r…], over
        /// the inputs of one block (from <paramref name="blockStart"/>, an expression; all inputs when null).
        /// <paramref name="accumulate"/> names the flag that says whether the tile adds to its outputs.
        /// </summary>
        private static void EmitTile(IndentedWriter w, MatMulPlan m, MatMulPathPlan path, TilePlan tile, string? blockStart = null, string accumulate = "accumulate")
        {
            VectorWidth v = VectorWidth.Of(path.Path);
            int n = m.Inputs, rows = tile.Rows, tokens = tile.Tokens, stepElems = path.StepInputs;
            string element = m.Type.Element();
            bool split = tile.Accumulators == Accumulators.TwoPerRow;
            if (tile.Prefetch is TilePrefetch prefetch)
            {
                EmitFetchDistance(w, rows, prefetch);
            }

            w.Line($"ref {element} w0 = ref Unsafe.Add(ref w, (nint)r * {m.RowStride});");
            for (int k = 1; k < rows; k++)
            {
                w.Line($"ref {element} w{k} = ref Unsafe.Add(ref w0, {k * m.RowStride});");
            }

            if (m.ScalesPerRow > 0)
            {
                EmitRowScales(w, rows, n);
                if (tile.Prefetch is not null)
                {
                    EmitScalesPrefetch(w, rows, tile.Prefetch);
                }
            }

            for (int k = 0; k < rows; k++)
            {
                var accs = new List<string>();
                for (int t = 0; t < tokens; t++)
                {
                    accs.Add($"{Acc(k, t, tokens)} = {v.Zero}");
                }

                if (split)
                {
                    accs.Add($"b{k} = {v.Zero}");
                }

                w.Line($"{v.Float} {string.Join(", ", accs)};");
            }

            bool loop = tile.Iterations > 1;
            if (loop)
            {
                w.Open(blockStart is not null
                    ? $"for (nuint i = {blockStart}, end = i + {tile.Block}; i < end; i += {tile.Unroll * stepElems})"
                    : $"for (nuint i = 0; i < {n}; i += {tile.Unroll * stepElems})");
            }

            for (int u = 0; u < tile.Unroll; u++)
            {
                string off = loop ? (u == 0 ? "i" : $"i + {u * stepElems}") : VectorWidth.Int(u * stepElems);
                string offHi = loop ? $"i + {(u * stepElems) + v.Lanes}" : VectorWidth.Int((u * stepElems) + v.Lanes);
                w.Open($"// inputs [{u * stepElems}, {(u + 1) * stepElems}) of this {(loop ? "iteration" : "row")}");
                if (tile.Prefetch is not null && tile.Prefetch.RequestingSteps.Contains(u))
                {
                    EmitPrefetch(w, rows, tile.Prefetch, off);
                }

                switch (tile.Form)
                {
                    case StepForm.ScaledOnce:
                        // One token: scale the step's dot product once instead of both weight vectors.
                        w.Line($"{v.Float} xl = {v.Load("xt0", off)}, xh = {v.Load("xt0", offHi)};");
                        for (int k = 0; k < rows; k++)
                        {
                            EmitQ8StepScaledOnce(w, v, k, off, loop ? null : u * stepElems);
                        }

                        break;
                    case StepForm.HalfSteps:
                        foreach ((string at, string half) in new[] { (off, "lo"), (offHi, "hi") })
                        {
                            w.Line($"// {half} half: {rows} rows' weights, then each token's {v.Lanes} inputs against all of them");
                            for (int k = 0; k < rows; k++)
                            {
                                EmitHalfWeight(w, m.Type, v, k, at, $"{half}{k}");
                            }

                            for (int t = 0; t < tokens; t++)
                            {
                                w.Line($"{v.Float} {half}x{t} = {v.Load($"xt{t}", at)};");
                                for (int k = 0; k < rows; k++)
                                {
                                    w.Line($"{Acc(k, t, tokens)} = {v.Fma($"{half}{k}", $"{half}x{t}", Acc(k, t, tokens))};");
                                }
                            }
                        }

                        break;
                    default:
                        for (int k = 0; k < rows; k++)
                        {
                            EmitWeightStep(w, m.Type, v, k, off, offHi, loop ? null : u * stepElems);
                        }

                        for (int t = 0; t < tokens; t++)
                        {
                            string xl = tokens == 1 ? "xl" : $"xl{t}", xh = tokens == 1 ? "xh" : $"xh{t}";
                            w.Line($"{v.Float} {xl} = {v.Load($"xt{t}", off)}, {xh} = {v.Load($"xt{t}", offHi)};");
                            for (int k = 0; k < rows; k++)
                            {
                                string a = Acc(k, t, tokens);
                                string b = split ? $"b{k}" : a;
                                w.Line($"{a} = {v.Fma($"l{k}", xl, a)};");
                                w.Line($"{b} = {v.Fma($"h{k}", xh, b)};");
                            }
                        }

                        break;
                }

                w.Close();
            }

            if (loop)
            {
                w.Close();
            }

            EmitReduction(w, v, tile, accumulate);
        }
    }
}
