using System;
using System.Collections.Generic;
using System.Linq;
using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class ModelEmitter
    {
        /// <summary>Rows of W handled together: each x vector loaded is used four times.</summary>
        private const int RowTile = 4;

        /// <summary>Most steps written out inside one iteration of a product's inner loop.</summary>
        private const int MaxUnroll = 4;

        private static readonly (string Name, string Element, string Span, int Flag)[] WeightTypes =
        {
            ("BF16", "ushort", "AsBF16Span", WeightTypeSet.BF16),
            ("F32", "float", "AsF32Span", WeightTypeSet.F32),
            ("Q8", "sbyte", "AsQ8Span", WeightTypeSet.Q8),
        };

        /// <summary>The weight types the shape file asks kernels for (<c>weights = …</c>; all by default).</summary>
        private static IEnumerable<(string Name, string Element, string Span, int Flag)> GeneratedWeightTypes(ShapeSpec s) =>
            WeightTypes.Where(t => s.Generates(t.Flag));

        /// <summary>Bytes per cache line, the unit of software prefetch.</summary>
        private const int CacheLine = 64;

        /// <summary>Values of a Q8 row sharing one scale (Rwkv7.Gen.Loading.Q8Block.Size).</summary>
        private const int Q8Block = ModelMath.Q8BlockSize;

        /// <summary>
        /// Q8 rows carry their block scales: each row is its n int8 values followed by its n / 32 fp32 scales
        /// (Rwkv7.Gen.Weights.WeightMatrix.Q8RowStride), so a row's scales arrive in the same stream as its values.
        /// </summary>
        private static bool HasScales(string type) => type == "Q8";

        /// <summary>
        /// Elements from one row of a matrix to the next: n, or for Q8 the n values and the 4·n/32 bytes of scales after
        /// them. With the scales in a second array, 8-bit decode streamed ~10% slower on one and on two threads than with
        /// scales read from L1 (docs/benchmarks.md, change 28).
        /// </summary>
        private static int RowStride(string type, int n) => HasScales(type) ? n + (n / Q8Block * sizeof(float)) : n;

        /// <summary>Declares sc{k}, the block scales of row k, which follow its <paramref name="n"/> values.</summary>
        private static void EmitRowScales(IndentedWriter w, int rows, int n)
        {
            for (int k = 0; k < rows; k++)
            {
                w.Line($"ref float sc{k} = ref Unsafe.As<sbyte, float>(ref Unsafe.Add(ref w{k}, {n}));");
            }
        }

        /// <summary>Bytes per stored weight of a weight type.</summary>
        private static int ElementBytes(string type) => type == "F32" ? 4 : type == "BF16" ? 2 : 1;

        private static void EmitMatMul(IndentedWriter w, ShapeSpec s)
        {
            var dims = InnerDims(s);

            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open($"public static void MatMul<{Fetch}>(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            w.Line("KernelChecks.MatMul(w, x.Length, y.Length, tokens, yStride, rowStart, rowEnd);");
            w.Line("ref float xr = ref MemoryMarshal.GetReference(x);");
            w.Line("ref float yr = ref MemoryMarshal.GetReference(y);");
            foreach ((string type, string element, string span, _) in GeneratedWeightTypes(s))
            {
                w.Open($"if (w.Type == TensorDType.{type})");
                w.Line($"ref {element} wr = ref MemoryMarshal.GetReference(w.{span}());");
                w.Open("switch (w.Cols)");
                foreach (int n in dims)
                {
                    w.Line($"case {n}: MatMul{type}In{n}<{Fetch}>(ref wr, ref xr, ref yr, tokens, yStride, rowStart, rowEnd, accumulate); return;");
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

            foreach ((string type, string element, _, _) in GeneratedWeightTypes(s))
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
            w.Summary(
                $"Rows [rowStart, rowEnd) of y = W·x with W [rows][{n}] {type.ToLowerInvariant()}, x [tokens][{n}], y [tokens][yStride]"
                + (HasScales(type) ? $"; each row's {n} values followed by its {Plural(n / Q8Block, "scale")}, one per block of {Q8Block} weights ({RowStride(type, n)} bytes)." : "."));
            w.Open($"private static void MatMul{type}In{n}<{Fetch}>(ref {element} w, ref float x, ref float y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            string args = $"(ref w, ref x, ref y, tokens, yStride, rowStart, rowEnd, accumulate);";
            for (int i = 0; i < VectorWidth.All.Length; i++)
            {
                VectorWidth v = VectorWidth.All[i];
                string call = $"MatMul{type}In{n}{v.Suffix}{(v.IsScalar ? "" : $"<{Fetch}>")}{args}";
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
            // One step consumes 2·lanes inputs as two vectors (lo, hi): a bf16 step is one load widened in two.
            int stepElems = 2 * v.Lanes;
            int steps = n / stepElems;
            int unroll = steps % MaxUnroll == 0 ? MaxUnroll : steps % 2 == 0 ? 2 : 1;
            int iterations = steps / unroll;
            (int tileRows, int tileTokens) = TokenTile(v, type);

            w.Line();
            w.Summary(
                $"<see cref=\"MatMul{type}In{n}\"/> with {v.Description}: " + (v.IsScalar
                    ? "one row and one input at a time."
                    : $"{tileRows} rows × {tileTokens} tokens per tile while {tileTokens} or more tokens remain (each weight vector"
                      + $" serves {tileTokens} tokens), then {RowTile} rows × 1 token; {Plural(steps, "step")} of {stepElems} inputs per row."));
            w.Line(AggressiveOptimization);
            if (v.IsScalar)
            {
                w.Open($"private static void MatMul{type}In{n}{v.Suffix}(ref {element} w, ref float x, ref float y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate)");
                EmitScalarMatMul(w, type, element, n);
                w.Close();
                return;
            }

            w.Open($"private static void MatMul{type}In{n}{v.Suffix}<{Fetch}>(ref {element} w, ref float x, ref float y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            w.Line($"int t = tokens >= {tileTokens} ? MatMul{type}In{n}{v.Suffix}Tiles<{Fetch}>(ref w, ref x, ref y, tokens, yStride, rowStart, rowEnd, accumulate) : 0;");
            w.Open("for (; t < tokens; t++)");
            EmitTokenRefs(w, n, 1);
            w.Line("int r = rowStart;");
            w.Open($"for (; r + {RowTile} <= rowEnd; r += {RowTile})");
            EmitTile(w, type, element, n, v, RowTile, 1, unroll, iterations);
            w.Close();
            w.Open("for (; r < rowEnd; r++)");
            EmitTile(w, type, element, n, v, 1, 1, unroll, iterations);
            w.Close();
            w.Close();
            w.Close();

            // Several tokens at once (prefill, batch decode) in a method of their own: each method stays small enough
            // for the JIT to keep every accumulator in a register.
            w.Line();
            w.Summary($"The multi-token part of <see cref=\"MatMul{type}In{n}{v.Suffix}\"/>: whole tiles of {tileTokens} tokens; returns the tokens done.");
            w.Line(AggressiveOptimization);
            w.Open($"private static int MatMul{type}In{n}{v.Suffix}Tiles<{Fetch}>(ref {element} w, ref float x, ref float y, int tokens, int yStride, int rowStart, int rowEnd, bool accumulate) {FetchConstraint}");
            // Row tiles outer, token tiles inner: a tile's weights (a few KB) stay in L1 while every token tile uses
            // them, and the block's activations stay in L2; each weight is read from memory once per call. Long rows
            // are worked in blocks of inputs, so that one token tile's inputs and the row tile's weights fit in L1
            // together.
            int block = InputBlock(n, type, tileRows, tileTokens, stepElems);
            string accumulate = "accumulate";
            w.Line($"int tiled = tokens / {tileTokens} * {tileTokens};");
            if (block < n)
            {
                w.Line($"// inputs in {n / block} blocks of {block}: one token tile's inputs and one row tile's weights then fit in L1 together");
                w.Open($"for (int k0 = 0; k0 < {n}; k0 += {block})");
                w.Line("bool add = accumulate || k0 != 0;");
                accumulate = "add";
            }

            var range = new InputRange(block < n ? "(nuint)k0" : null, block, accumulate);
            w.Line("int r = rowStart;");
            w.Open($"for (; r + {tileRows} <= rowEnd; r += {tileRows})");
            w.Open($"for (int t = 0; t < tiled; t += {tileTokens})");
            EmitTokenRefs(w, n, tileTokens);
            EmitTile(w, type, element, n, v, tileRows, tileTokens, 1, block / stepElems, range);
            w.Close();
            w.Close();
            w.Open("for (; r < rowEnd; r++)");
            w.Open($"for (int t = 0; t < tiled; t += {tileTokens})");
            EmitTokenRefs(w, n, tileTokens);
            EmitTile(w, type, element, n, v, 1, tileTokens, 1, block / stepElems, range);
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
        /// Bytes of L1 a multi-token tile may fill with one token tile's inputs and its row tile's weights (two thirds of a
        /// 48 KiB L1, leaving room for the outputs and the prefetched next rows).
        /// </summary>
        private const int TileL1Bytes = 32 * 1024;

        /// <summary>
        /// Inputs per block of a multi-token product: all n when a token tile's inputs (fp32) and a row tile's weights fit
        /// <see cref="TileL1Bytes"/>, otherwise the largest whole number of steps dividing n that does. Without blocks,
        /// the 0.1B FFN value product (3,072 inputs: 48 KiB of inputs per 4-token tile, 36 KiB of bf16 weights per 6-row
        /// tile) ran at 59% of the FMA peak in prefill while the 768-input products reached 70%.
        /// </summary>
        private static int InputBlock(int n, string type, int rows, int tokens, int stepElems)
        {
            int bytesPerInput = (tokens * sizeof(float)) + (rows * ElementBytes(type));
            for (int block = n; block >= stepElems; block -= stepElems)
            {
                if (n % block == 0 && block * bytesPerInput <= TileL1Bytes)
                {
                    return block;
                }
            }

            return stepElems;
        }

        /// <summary>
        /// The inputs a tile's loop covers: [Start, Start + Length) when Start is given (an expression), else all of them;
        /// and the name of the flag that says whether the tile adds to its outputs.
        /// </summary>
        private readonly struct InputRange
        {
            public InputRange(string? start, int length, string accumulate)
            {
                Start = start;
                Length = length;
                Accumulate = accumulate;
            }

            public string? Start { get; }

            public int Length { get; }

            public string Accumulate { get; }
        }

        /// <summary>Rows × tokens of a multi-token tile: its accumulators must fit the width's register file.</summary>
        private static (int Rows, int Tokens) TokenTile(VectorWidth v, string type) => v.Lanes switch
        {
            16 => (HalfSteps(v, type) ? 6 : 4, 4),
            8 => (HalfSteps(v, type) ? 3 : 2, 4),
            _ => (2, 4),
        };

        /// <summary>
        /// Multi-token bf16 and fp32 tiles on the 512- and 256-bit paths work one half-step (one vector of inputs) at a
        /// time, one FMA per accumulator each. On 512 bits, 6 rows × 4 tokens of accumulators (24), 6 weight vectors and
        /// one input vector fit the 32 registers, and each input vector loaded serves 6 rows instead of 4; those tiles
        /// are bound by loads of the activations (0.1B, one thread, same-run pairs: bf16 prefill +15%, batch of 16 +55%;
        /// fp32 prefill +10%). On 256 bits (16 registers), 3 rows × 4 tokens: 12 accumulators, 3 weight vectors and one
        /// input vector; its 2 × 4 tiles of whole steps chained two FMAs per accumulator and step, 8 chains for two FMA
        /// pipes of 4-cycle latency, which left no slack. 8-bit tiles are bound by converting their weights, which more
        /// rows do not change (measured on 512 bits: equal prefill, batch −3%), so they keep whole steps.
        /// </summary>
        private static bool HalfSteps(VectorWidth v, string type) => v.Lanes is 16 or 8 && type != "Q8";

        /// <summary>
        /// Half a step of row k (one vector of weights at <paramref name="at"/>) as one float vector: bf16 widened by a
        /// zero-extending load and a shift (no cross-lane extract), fp32 loaded as it is.
        /// </summary>
        private static void EmitHalfWeight(IndentedWriter w, string type, VectorWidth v, int k, string at, string name) =>
            w.Line(type != "BF16" ? $"{v.Float} {name} = {v.Load($"w{k}", at)};"
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

        private static void EmitScalarMatMul(IndentedWriter w, string type, string element, int n)
        {
            w.Open("for (int t = 0; t < tokens; t++)");
            w.Line($"ref float xt = ref Unsafe.Add(ref x, (nint)t * {n});");
            w.Line("ref float yt = ref Unsafe.Add(ref y, (nint)t * yStride);");
            w.Open("for (int r = rowStart; r < rowEnd; r++)");
            w.Line($"ref {element} w0 = ref Unsafe.Add(ref w, (nint)r * {RowStride(type, n)});");
            if (HasScales(type))
            {
                EmitRowScales(w, 1, n);
            }

            w.Line("float sum = 0f;");
            w.Open($"for (nint i = 0; i < {n}; i++)");
            string weight = type switch
            {
                "BF16" => "BFloat16Conversions.ToSingle(Unsafe.Add(ref w0, i))",
                "Q8" => $"(Unsafe.Add(ref sc0, i / {Q8Block}) * Unsafe.Add(ref w0, i))",
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
        /// Dot products of <paramref name="rows"/> consecutive rows (from r) with <paramref name="tokens"/> token rows of x
        /// (xt0…), written or added into yt0…[r…]. One token keeps two accumulators per row (the lo and hi halves of each
        /// step) for more independent FMA chains; several tokens keep one per (row, token) pair.
        /// </summary>
        private static void EmitTile(IndentedWriter w, string type, string element, int n, VectorWidth v, int rows, int tokens, int unroll, int iterations, InputRange? range = null)
        {
            string accumulate = range?.Accumulate ?? "accumulate";
            int stepElems = 2 * v.Lanes;
            bool split = tokens == 1;

            // Full row tiles request rows further on ahead of use (EmitFetchDistance): decode streams weights from memory,
            // and even with several tokens per weight the hardware prefetcher alone leaves the tiles waiting on memory.
            bool prefetch = rows > 1;
            int stride = RowStride(type, n);
            if (prefetch)
            {
                EmitFetchDistance(w, rows, stride, ElementBytes(type));
            }

            w.Line($"ref {element} w0 = ref Unsafe.Add(ref w, (nint)r * {stride});");
            for (int k = 1; k < rows; k++)
            {
                w.Line($"ref {element} w{k} = ref Unsafe.Add(ref w0, {k * stride});");
            }

            if (HasScales(type))
            {
                EmitRowScales(w, rows, n);
                if (prefetch)
                {
                    EmitScalesPrefetch(w, rows, n);
                }
            }

            for (int k = 0; k < rows; k++)
            {
                var accs = new List<string>();
                for (int m = 0; m < tokens; m++)
                {
                    accs.Add($"{Acc(k, m, tokens)} = {v.Zero}");
                }

                if (split)
                {
                    accs.Add($"b{k} = {v.Zero}");
                }

                w.Line($"{v.Float} {string.Join(", ", accs)};");
            }

            bool loop = iterations > 1;
            if (loop)
            {
                w.Open(range?.Start is string start
                    ? $"for (nuint i = {start}, end = i + {range.Value.Length}; i < end; i += {unroll * stepElems})"
                    : $"for (nuint i = 0; i < {n}; i += {unroll * stepElems})");
            }

            for (int u = 0; u < unroll; u++)
            {
                string off = loop ? (u == 0 ? "i" : $"i + {u * stepElems}") : VectorWidth.Int(u * stepElems);
                string offHi = loop ? $"i + {(u * stepElems) + v.Lanes}" : VectorWidth.Int((u * stepElems) + v.Lanes);
                w.Open($"// inputs [{u * stepElems}, {(u + 1) * stepElems}) of this {(loop ? "iteration" : "row")}");
                if (prefetch)
                {
                    EmitPrefetch(w, type, rows, n, v, off, u * stepElems);
                }

                if (HasScales(type) && tokens == 1)
                {
                    // One token: scale the step's dot product once instead of both weight vectors.
                    w.Line($"{v.Float} xl = {v.Load("xt0", off)}, xh = {v.Load("xt0", offHi)};");
                    for (int k = 0; k < rows; k++)
                    {
                        EmitQ8StepScaledOnce(w, v, k, off, loop ? null : u * stepElems);
                    }

                    w.Close();
                    continue;
                }

                if (tokens > 1 && HalfSteps(v, type))
                {
                    foreach ((string at, string half) in new[] { (off, "lo"), (offHi, "hi") })
                    {
                        w.Line($"// {half} half: {rows} rows' weights, then each token's {v.Lanes} inputs against all of them");
                        for (int k = 0; k < rows; k++)
                        {
                            EmitHalfWeight(w, type, v, k, at, $"{half}{k}");
                        }

                        for (int m = 0; m < tokens; m++)
                        {
                            w.Line($"{v.Float} {half}x{m} = {v.Load($"xt{m}", at)};");
                            for (int k = 0; k < rows; k++)
                            {
                                w.Line($"{Acc(k, m, tokens)} = {v.Fma($"{half}{k}", $"{half}x{m}", Acc(k, m, tokens))};");
                            }
                        }
                    }

                    w.Close();
                    continue;
                }

                for (int k = 0; k < rows; k++)
                {
                    EmitWeightStep(w, type, v, k, off, offHi, loop ? null : u * stepElems);
                }

                for (int m = 0; m < tokens; m++)
                {
                    string xl = tokens == 1 ? "xl" : $"xl{m}", xh = tokens == 1 ? "xh" : $"xh{m}";
                    w.Line($"{v.Float} {xl} = {v.Load($"xt{m}", off)}, {xh} = {v.Load($"xt{m}", offHi)};");
                    for (int k = 0; k < rows; k++)
                    {
                        string a = Acc(k, m, tokens);
                        string b = split ? $"b{k}" : a;
                        w.Line($"{a} = {v.Fma($"l{k}", xl, a)};");
                        w.Line($"{b} = {v.Fma($"h{k}", xh, b)};");
                    }
                }

                w.Close();
            }

            if (loop)
            {
                w.Close();
            }

            if (v.Lanes == 16 && rows >= 4)
            {
                EmitReduce512(w, v, rows, tokens, split, accumulate);
                return;
            }

            if (v.Lanes == 8 && tokens == 4 && HalfSteps(v, type))
            {
                EmitReduceTokens256(w, rows, accumulate);
                return;
            }

            for (int m = 0; m < tokens; m++)
            {
                int reduced = 0;
                if (rows >= 4 && v.Lanes == 8)
                {
                    EmitReduceFour(w, m, tokens, split, accumulate);
                    reduced = 4;
                }

                EmitReduceRows(w, v, reduced, rows, m, tokens, split, accumulate);
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
        /// rows 0–3 of each token, stored as one 4-float vector; in a 6-row tile, rows 4 and 5 of two tokens at a time.
        /// Summed one by one instead, a 6-row × 4-token bf16 tile at 768 inputs ran at 182–184 GFLOP/s on one core
        /// against 196 with the shared shuffles (docs/benchmarks.md, change 25).
        /// </summary>
        private static void EmitReduce512(IndentedWriter w, VectorWidth v, int rows, int tokens, bool split, string accumulate)
        {
            w.Line("// the tile's sums, four accumulators per Horizontal.Sums (its shuffles shared between them)");
            for (int m = 0; m < tokens; m++)
            {
                string sums = string.Join(", ", Enumerable.Range(0, 4).Select(k => AccValue(k, m, tokens, split)));
                w.Line($"Horizontal.Store(Horizontal.Sums({sums}), ref Unsafe.Add(ref yt{m}, r), {accumulate});");
            }

            if (rows == 6 && tokens % 2 == 0)
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
        /// pairwise adds shared between them), each sum then written to its token's output. One by one, the 3 × 4 tiles'
        /// twelve sums cost about as much as a 128-input row's multiply-adds. The 8-bit 2 × 4 tiles measured slower with it
        /// (a 128-input up-projection 51–53% → 40–41% of the FMA peak) and keep their sums one by one.
        /// </summary>
        private static void EmitReduceTokens256(IndentedWriter w, int rows, string accumulate)
        {
            w.Line("// the tile's sums, one row's four tokens per Horizontal.Sums");
            for (int k = 0; k < rows; k++)
            {
                string sums = $"s{k}";
                w.Line($"Vector128<float> {sums} = Horizontal.Sums({Acc(k, 0, 4)}, {Acc(k, 1, 4)}, {Acc(k, 2, 4)}, {Acc(k, 3, 4)});");
                for (int m = 0; m < 4; m++)
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
        /// each vector to 128 bits, then two levels of pairwise horizontal adds, and one 4-float store — far fewer
        /// instructions than four separate horizontal sums. The 256-bit path runs on x86 only (SSE3 is implied); the
        /// 512-bit one has <see cref="EmitReduce512"/>.
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
        /// fp32 loaded twice, Q8 widened from int8 and multiplied by its block's scale (a step never straddles a block).
        /// </summary>
        private static void EmitWeightStep(IndentedWriter w, string type, VectorWidth v, int k, string off, string offHi, int? constantOffset)
        {
            switch (type)
            {
                case "BF16":
                    foreach (string line in v.WidenBF16($"w{k}", off, $"l{k}", $"h{k}"))
                    {
                        w.Line(line);
                    }

                    break;
                case "F32":
                    w.Line($"{v.Float} l{k} = {v.Load($"w{k}", off)}, h{k} = {v.Load($"w{k}", offHi)};");
                    break;
                default:
                    string block = constantOffset is int c ? VectorWidth.Int(c / Q8Block) : $"({off}) / {Q8Block}";
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

        /// <summary>
        /// One Q8 step of row k for one token: a{k} += scale · (lo·xl + hi·xh). Three floating-point operations per step
        /// instead of four, which matters because 8-bit decode is limited by arithmetic, not memory.
        /// </summary>
        private static void EmitQ8StepScaledOnce(IndentedWriter w, VectorWidth v, int k, string off, int? constantOffset)
        {
            foreach (string line in v.WidenInt8($"w{k}", off, $"l{k}", $"h{k}"))
            {
                w.Line(line);
            }

            string block = constantOffset is int c ? VectorWidth.Int(c / Q8Block) : $"({off}) / {Q8Block}";
            w.Line($"a{k} = {v.Fma(v.Fma($"l{k}", "xl", $"h{k} * xh"), v.Splat($"Unsafe.Add(ref sc{k}, {block})"), $"a{k}")};");
        }

        /// <summary>
        /// The type parameter of every kernel that streams weights: the prefetch policy (Rwkv7.Gen.Specialized.IWeightPrefetch)
        /// the engine picked for the processor when it started (Rwkv7.Gen.CpuTuning). Its hint and distance are constants
        /// in each instantiation, so a kernel holds no branch and reads no static for them.
        /// </summary>
        private const string Fetch = "TPrefetch";

        /// <summary>The constraint clause of a kernel generic over <see cref="Fetch"/>.</summary>
        private const string FetchConstraint = "where TPrefetch : struct, IWeightPrefetch";

        /// <summary>
        /// Declares <c>fetch</c>, the distance in elements at which a row tile requests its weights: at least the policy's
        /// <c>AheadBytes</c> ahead, in whole tiles, while those rows are within the call's range, the next tile near the
        /// range's end, nothing in the last tile. Rows past the end belong to another part (another core), and a decode
        /// step's parts of r, k and v are only ~100 rows long, so overshooting them cost ~10%. <paramref name="stride"/>
        /// is the elements from one row to the next (<see cref="RowStride"/>). The JIT folds the tile count, a constant
        /// of the policy type.
        /// </summary>
        private static void EmitFetchDistance(IndentedWriter w, int rows, int stride, int elementBytes)
        {
            int tileElements = rows * stride;
            w.Line($"int ahead = Prefetch.TilesAhead({Fetch}.AheadBytes, {tileElements * elementBytes});");
            w.Line($"nuint fetch = r + ((ahead + 1) * {rows}) <= rowEnd ? (nuint)(ahead * {tileElements}) : ahead > 1 && r + {2 * rows} <= rowEnd ? {tileElements} : 0u;");
        }

        /// <summary>
        /// Prefetches, for each row of the tile <c>fetch</c> elements further on (<see cref="EmitFetchDistance"/>), the
        /// cache lines this step reads in the current one: one request per 64-byte line, with the hint of the kernel's
        /// prefetch policy. Writes nothing for a step whose line the step before requested.
        /// </summary>
        private static void EmitPrefetch(IndentedWriter w, string type, int rows, int n, VectorWidth v, string off, int stepStart)
        {
            int elementBytes = ElementBytes(type);
            int stepBytes = 2 * v.Lanes * elementBytes;
            if (stepBytes < CacheLine && (stepStart * elementBytes) % CacheLine != 0)
            {
                return; // this step's line was requested by the step before
            }

            int perLine = CacheLine / elementBytes;
            w.Open("if (fetch != 0)");
            for (int k = 0; k < rows; k++)
            {
                for (int b = 0; b < Math.Max(1, stepBytes / CacheLine); b++)
                {
                    // The same columns, fetch elements further on (see EmitFetchDistance), folded when constant.
                    int line = b * perLine;
                    string at = int.TryParse(off, out int c) ? (c + line == 0 ? "fetch" : $"{VectorWidth.Int(c + line)} + fetch")
                        : line == 0 ? $"{off} + fetch" : $"{off} + {line} + fetch";
                    w.Line($"{Fetch}.Line(ref w{k}, {at});");
                }
            }

            w.Close();
        }

        /// <summary>Accumulator of row k and token m: a{k} for one token, c{k}{m} for several.</summary>
        private static string Acc(int k, int m, int tokens) => tokens == 1 ? $"a{k}" : $"c{k}{m}";
    }
}
