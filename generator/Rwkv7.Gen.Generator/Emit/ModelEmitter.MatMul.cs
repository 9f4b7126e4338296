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
            w.Line("Span<float> part = hidden.Slice((t * F) + rowStart, rowEnd - rowStart);");
            w.Line("TensorPrimitives.Max(part, 0f, part);");
            w.Line("TensorPrimitives.Multiply(part, part, part);");
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

        /// <summary>
        /// Half a step of row k (one vector of weights at <paramref name="at"/>) as one float vector: bf16 widened by a
        /// zero-extending load and a shift (no cross-lane extract), fp32 loaded as it is.
        /// </summary>
        private static void EmitHalfWeight(IndentedWriter w, WeightType type, VectorWidth v, int k, string at, string name) =>
            w.Line(type != WeightType.BF16 ? $"{v.Float} {name} = {v.Load($"w{k}", at)};"
                : v.Lanes == 16 ? $"{v.Float} {name} = Avx512BW.ShiftLeftLogical(Avx512BW.ConvertToVector512UInt32(Vector256.LoadUnsafe(ref w{k}, {at})).AsUInt32(), 16).AsSingle();"
                : $"{v.Float} {name} = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref w{k}, {at})).AsUInt32(), 16).AsSingle();");

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

        /// <summary>Declares sc{k}, the block scales of row k, which follow its <paramref name="n"/> values.</summary>
        private static void EmitRowScales(IndentedWriter w, int rows, int n)
        {
            for (int k = 0; k < rows; k++)
            {
                w.Line($"ref float sc{k} = ref Unsafe.As<sbyte, float>(ref Unsafe.Add(ref w{k}, {n}));");
            }
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

        /// <summary>Writes the tile's sums into its outputs as its plan's <see cref="TilePlan.Reduction"/> says.</summary>
        private static void EmitReduction(IndentedWriter w, VectorWidth v, TilePlan tile, string accumulate)
        {
            int rows = tile.Rows, tokens = tile.Tokens;
            bool split = tile.Accumulators == Accumulators.TwoPerRow;
            switch (tile.Reduction)
            {
                case Reduction.FourRowsPerSums:
                case Reduction.FourRowsThenRowPairs:
                    EmitReduce512(w, v, rows, tokens, split, accumulate, tile.Reduction == Reduction.FourRowsThenRowPairs);
                    return;
                case Reduction.FourTokensPerSums:
                    EmitReduceTokens256(w, rows, tokens, accumulate);
                    return;
            }

            for (int t = 0; t < tokens; t++)
            {
                int reduced = 0;
                if (tile.Reduction == Reduction.FourRowsFolded)
                {
                    EmitReduceFour(w, t, tokens, split, accumulate);
                    reduced = 4;
                }

                EmitReduceRows(w, v, reduced, rows, t, tokens, split, accumulate);
            }
        }

        /// <summary>Sums rows [<paramref name="first"/>, <paramref name="rows"/>) of token m one at a time.</summary>
        private static void EmitReduceRows(IndentedWriter w, VectorWidth v, int first, int rows, int m, int tokens, bool split, string accumulate)
        {
            for (int k = first; k < rows; k++)
            {
                string target = k == 0 ? "r" : $"r + {k}";
                string name = tokens == 1 ? $"o{k}" : $"o{k}{m}";
                string sum = v.Sum(AccValue(k, m, tokens, split));
                w.Line($"ref float {name} = ref Unsafe.Add(ref yt{m}, {target});");
                w.Line($"{name} = {accumulate} ? {name} + {sum} : {sum};");
            }
        }

        /// <summary>
        /// The 512-bit path's sums, four accumulators per <c>Horizontal.Sums</c> call (its shuffles shared between them):
        /// rows 0–3 of each token, stored as one 4-float vector; with <paramref name="rowPairs"/> (6-row tiles), rows 4
        /// and 5 of two tokens at a time, else any further rows one by one.
        /// </summary>
        private static void EmitReduce512(IndentedWriter w, VectorWidth v, int rows, int tokens, bool split, string accumulate, bool rowPairs)
        {
            w.Line("// the tile's sums, four accumulators per Horizontal.Sums (its shuffles shared between them)");
            for (int m = 0; m < tokens; m++)
            {
                string sums = string.Join(", ", Enumerable.Range(0, 4).Select(k => AccValue(k, m, tokens, split)));
                w.Line($"Horizontal.Store(Horizontal.Sums({sums}), ref Unsafe.Add(ref yt{m}, r), {accumulate});");
            }

            if (rowPairs)
            {
                for (int m = 0; m < tokens; m += 2)
                {
                    string last = $"last{m}";
                    w.Line($"Vector128<float> {last} = Horizontal.Sums({AccValue(4, m, tokens, split)}, {AccValue(5, m, tokens, split)}, {AccValue(4, m + 1, tokens, split)}, {AccValue(5, m + 1, tokens, split)});");
                    w.Line($"Horizontal.StorePair({last}, 0, ref Unsafe.Add(ref yt{m}, r + 4), {accumulate});");
                    w.Line($"Horizontal.StorePair({last}, 1, ref Unsafe.Add(ref yt{m + 1}, r + 4), {accumulate});");
                }

                return;
            }

            for (int m = 0; m < tokens; m++)
            {
                EmitReduceRows(w, v, 4, rows, m, tokens, split, accumulate);
            }
        }

        /// <summary>
        /// The 256-bit multi-token tiles' sums, one row's four tokens per <c>Horizontal.Sums</c> call (its folds and
        /// pairwise adds shared between them), each sum then written to its token's output.
        /// </summary>
        private static void EmitReduceTokens256(IndentedWriter w, int rows, int tokens, string accumulate)
        {
            w.Line("// the tile's sums, one row's four tokens per Horizontal.Sums");
            for (int k = 0; k < rows; k++)
            {
                string sums = $"s{k}";
                w.Line($"Vector128<float> {sums} = Horizontal.Sums({string.Join(", ", Enumerable.Range(0, tokens).Select(m => Acc(k, m, tokens)))});");
                for (int m = 0; m < tokens; m++)
                {
                    string target = k == 0 ? "r" : $"r + {k}";
                    string name = $"o{k}{m}";
                    w.Line($"ref float {name} = ref Unsafe.Add(ref yt{m}, {target});");
                    w.Line($"{name} = {accumulate} ? {name} + {sums}.GetElement({m}) : {sums}.GetElement({m});");
                }
            }
        }

        /// <summary>Row k's accumulated sum for token m as an expression: one accumulator, or the lo and hi pair of one token.</summary>
        private static string AccValue(int k, int m, int tokens, bool split) => split ? $"{Acc(k, m, tokens)} + b{k}" : Acc(k, m, tokens);

        /// <summary>
        /// Reduces the four row accumulators of token m to the four outputs y[r..r+3] together on the 256-bit path: fold
        /// each vector to 128 bits, then two levels of pairwise horizontal adds, and one 4-float store. The 256-bit path
        /// runs on x86 only (SSE3 is implied).
        /// </summary>
        private static void EmitReduceFour(IndentedWriter w, int m, int tokens, bool split, string accumulate)
        {
            string suffix = tokens == 1 ? "" : m.ToString(System.Globalization.CultureInfo.InvariantCulture);
            for (int k = 0; k < 4; k++)
            {
                string acc = split ? $"({Acc(k, m, tokens)} + b{k})" : Acc(k, m, tokens);
                w.Line($"Vector128<float> g{k}{suffix} = {acc}.GetLower() + {acc}.GetUpper();");
            }

            w.Line($"Vector128<float> sums{suffix} = Sse3.HorizontalAdd(Sse3.HorizontalAdd(g0{suffix}, g1{suffix}), Sse3.HorizontalAdd(g2{suffix}, g3{suffix}));");
            w.Line($"Horizontal.Store(sums{suffix}, ref Unsafe.Add(ref yt{m}, r), {accumulate});");
        }

        /// <summary>
        /// Loads one step of row k as two float vectors l{k} (inputs off…) and h{k} (offHi…): bf16 widened from one load,
        /// fp32 loaded twice, q8 widened from int8 and multiplied by its block's scale (a step never straddles a block).
        /// </summary>
        private static void EmitWeightStep(IndentedWriter w, WeightType type, VectorWidth v, int k, string off, string offHi, int? constantOffset)
        {
            switch (type)
            {
                case WeightType.BF16:
                    foreach (string line in v.WidenBF16($"w{k}", off, $"l{k}", $"h{k}"))
                    {
                        w.Line(line);
                    }

                    break;
                case WeightType.F32:
                    w.Line($"{v.Float} l{k} = {v.Load($"w{k}", off)}, h{k} = {v.Load($"w{k}", offHi)};");
                    break;
                default:
                    string block = ScaleIndex(off, constantOffset);
                    foreach (string line in v.WidenInt8($"w{k}", off, $"l{k}", $"h{k}"))
                    {
                        w.Line(line);
                    }

                    w.Line($"{v.Float} q{k} = {v.Splat($"Unsafe.Add(ref sc{k}, {block})")};");
                    w.Line($"l{k} *= q{k};");
                    w.Line($"h{k} *= q{k};");
                    break;
            }
        }

        /// <summary>One q8 step of row k for one token: a{k} += scale · (lo·xl + hi·xh).</summary>
        private static void EmitQ8StepScaledOnce(IndentedWriter w, VectorWidth v, int k, string off, int? constantOffset)
        {
            foreach (string line in v.WidenInt8($"w{k}", off, $"l{k}", $"h{k}"))
            {
                w.Line(line);
            }

            string block = ScaleIndex(off, constantOffset);
            w.Line($"a{k} = {v.Fma(v.Fma($"l{k}", "xl", $"h{k} * xh"), v.Splat($"Unsafe.Add(ref sc{k}, {block})"), $"a{k}")};");
        }

        /// <summary>The index of the block scale of the inputs at <paramref name="off"/>, folded when the offset is a constant.</summary>
        private static string ScaleIndex(string off, int? constantOffset) =>
            constantOffset is int c ? VectorWidth.Int(c / ModelMath.Q8BlockSize) : $"({off}) / {ModelMath.Q8BlockSize}";

        /// <summary>
        /// Declares <c>fetch</c>, the distance in elements at which a row tile requests its weights: at least the policy's
        /// <c>AheadBytes</c> ahead, in whole tiles, while those rows are within the call's range, the next tile near the
        /// range's end, nothing in the last tile. Rows past the end belong to another part (another core), and a decode
        /// step's parts of r, k and v are only ~100 rows long, so overshooting them cost ~10%. The JIT folds the tile
        /// count, a constant of the policy type.
        /// </summary>
        private static void EmitFetchDistance(IndentedWriter w, int rows, TilePrefetch prefetch)
        {
            w.Line($"int ahead = Prefetch.TilesAhead({Fetch}.AheadBytes, {prefetch.TileBytes});");
            w.Line($"nuint fetch = r + ((ahead + 1) * {rows}) <= rowEnd ? (nuint)(ahead * {prefetch.TileElements}) : ahead > 1 && r + {2 * rows} <= rowEnd ? {prefetch.TileElements} : 0u;");
        }

        /// <summary>
        /// Requests, for each row of the tile <c>fetch</c> elements further on (<see cref="EmitFetchDistance"/>), the
        /// cache lines this step reads in the current one, with the hint of the kernel's prefetch policy.
        /// </summary>
        private static void EmitPrefetch(IndentedWriter w, int rows, TilePrefetch prefetch, string off)
        {
            w.Open("if (fetch != 0)");
            for (int k = 0; k < rows; k++)
            {
                for (int b = 0; b < prefetch.LinesPerStep; b++)
                {
                    // The same columns, fetch elements further on (see EmitFetchDistance), folded when constant.
                    int line = b * prefetch.ElementsPerLine;
                    string at = int.TryParse(off, out int c) ? (c + line == 0 ? "fetch" : $"{VectorWidth.Int(c + line)} + fetch")
                        : line == 0 ? $"{off} + fetch" : $"{off} + {line} + fetch";
                    w.Line($"{Fetch}.Line(ref w{k}, {at});");
                }
            }

            w.Close();
        }

        /// <summary>Requests the block scales of the rows <c>fetch</c> elements further on, at the plan's offsets within a row.</summary>
        private static void EmitScalesPrefetch(IndentedWriter w, int rows, TilePrefetch prefetch)
        {
            w.Open("if (fetch != 0)");
            for (int k = 0; k < rows; k++)
            {
                foreach (int offset in prefetch.ScaleOffsets)
                {
                    w.Line($"{Fetch}.Line(ref w{k}, fetch + {offset});");
                }
            }

            w.Close();
        }

        /// <summary>Accumulator of row k and token m: a{k} for one token, c{k}{m} for several.</summary>
        private static string Acc(int k, int m, int tokens) => tokens == 1 ? $"a{k}" : $"c{k}{m}";
    }
}
