using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class GpuEmitter
    {
        /// <summary>
        /// The products. A group of G threads computes G / lanes output rows; the lanes of a row take interleaved pairs
        /// of its inputs (coalesced on a GPU) and add their partial sums in shared memory. Tokens are processed in
        /// register tiles of four, so a weight is loaded once per tile.
        /// </summary>
        private static void EmitProducts(IndentedWriter w, KernelPlan plan)
        {
            ShapeNumbers n = plan.Shape.Numbers;
            foreach (string f in Formats)
            {
                foreach (int k in plan.InputWidths)
                {
                    EmitDot(w, k, f);
                }
            }

            foreach (string f in Formats)
            {
                EmitProjections(w, n, f);
                EmitLoraUp(w, n, f);
                EmitMatMul(w, "MatMulD", "D", n.Embedding, "output projection, FFN key, head", f);
                EmitMatMul(w, "MatMulF", "F", n.Ffn, "FFN value", f);
            }
        }

        private static string Words(string k, string f) => f == "Bf16" ? $"({k} / 2)" : k;

        /// <summary>Σ_k W[row][k]·x[m][k] over a constant K, for one tile of tokens.</summary>
        private static void EmitDot(IndentedWriter w, int k, string f)
        {
            bool bf16 = f == "Bf16";
            string load = bf16
                ? "uint pair = w[row + q];\n        float w0 = GpuMath.Bf16Low(pair), w1 = GpuMath.Bf16High(pair);"
                : "float w0 = Interop.IntAsFloat(w[row + k]), w1 = Interop.IntAsFloat(w[row + k + 1]);";
            w.Line();
            Block(w, $$"""
                /// <summary>
                /// Σ_k W[row][k]·x[m][k] for K = {{k}} and tokens m0 .. m0 + 3 ({{(bf16 ? "bf16 pairs" : "fp32")}}): this lane's share
                /// (input pairs q = lane, lane + lanes, …). Tokens past the end reuse the last token and are discarded.
                /// Shapes: w row at word offset row, x [tokens][xStride] from xBase.
                /// </summary>
                private static Acc4 Dot{{k}}{{f}}(ArrayView<uint> w, long row, ArrayView<float> x, long xBase, int xStride, int m0, int tokens, int lane, int lanes)
                {
                    Acc4 acc = default;
                    long x0 = xBase + ((long)m0 * xStride);
                    if (tokens - m0 == 1)
                    {
                        for (int q = lane; q < {{k}} / 2; q += lanes)
                        {
                            int k = 2 * q;
                            {{load.Replace("\n        ", "\n            ")}}
                            acc.A0 += (w0 * x[x0 + k]) + (w1 * x[x0 + k + 1]);
                        }

                        return acc;
                    }

                    long x1 = xBase + ((long)(m0 + 1 < tokens ? m0 + 1 : tokens - 1) * xStride);
                    long x2 = xBase + ((long)(m0 + 2 < tokens ? m0 + 2 : tokens - 1) * xStride);
                    long x3 = xBase + ((long)(m0 + 3 < tokens ? m0 + 3 : tokens - 1) * xStride);
                    for (int q = lane; q < {{k}} / 2; q += lanes)
                    {
                        int k = 2 * q;
                        {{load}}
                        acc.A0 += (w0 * x[x0 + k]) + (w1 * x[x0 + k + 1]);
                        acc.A1 += (w0 * x[x1 + k]) + (w1 * x[x1 + k + 1]);
                        acc.A2 += (w0 * x[x2 + k]) + (w1 * x[x2 + k + 1]);
                        acc.A3 += (w0 * x[x3 + k]) + (w1 * x[x3 + k + 1]);
                    }

                    return acc;
                }
                """);
        }

        /// <summary>The opening shared by every product kernel: which row this thread works on, and which lane it is.</summary>
        private const string ProductPrologue = """
            ArrayView<float> partials = SharedMemory.Allocate<float>(MaxGroup * Tile);
            int lanes = a.LanesPerRow, t = Group.IdxX;
            int lane = t & (lanes - 1);
            int o = (Grid.IdxX * (Group.DimX / lanes)) + (t / lanes);
            bool valid = o < a.OutRows;
            int row = valid ? o : a.OutRows - 1; // threads past the end still join the lane sums' barriers
            """;

        private static void EmitProjections(IndentedWriter w, ShapeNumbers n, string f)
        {
            w.Line();
            w.Summary(
                "Time-mix projections, one product over the concatenated rows [R; K; V; W1; A1; G1; V1] (every one reads D inputs):",
                "P[m][o] = act(W[o]·plane(o)[m]) with planes r, k, v, w, a, g of the token-shift output and activations",
                "none for r, k, v, a and the value LoRA, tanh for the decay LoRA, sigmoid for the gate LoRA. Layer 0 has no",
                "value LoRA (OutRows stops before it) and also stores v as v_first.",
                $"Shapes: W [OutRows][D], planes [6][XPlaneStride] of [tokens][D] -> P [tokens][{n.Embedding * 3} + {n.DecayRank} + {n.IclrRank} + {n.GateRank} + {n.ValueRank}].");
            w.Open($"private static void Projections{f}(MatMulArgs a)");
            Block(w, ProductPrologue);
            Block(w, $$"""

                // Segment of this row: its input plane and activation (0 none, 1 tanh, 2 sigmoid).
                int plane = row < 3 * D ? row / D
                    : row < (3 * D) + RW ? 3
                    : row < (3 * D) + RW + RA ? 4
                    : row < (3 * D) + RW + RA + RG ? 5
                    : 2;
                int activation = row >= 3 * D && row < (3 * D) + RW ? 1
                    : row >= (3 * D) + RW + RA && row < (3 * D) + RW + RA + RG ? 2
                    : 0;
                bool isValue = row >= 2 * D && row < 3 * D;
                long weights = (long)row * {{Words("D", f)}};
                long input = (long)plane * a.XPlaneStride;
                for (int m0 = 0; m0 < a.Tokens; m0 += Tile)
                {
                    Acc4 acc = KernelHelpers.LaneSum(Dot{{n.Embedding}}{{f}}(a.W, weights, a.X, input, a.XStride, m0, a.Tokens, lane, lanes), partials, t, lane, lanes);
                    if (valid && lane == 0)
                    {
                        for (int i = 0; i < Tile && m0 + i < a.Tokens; i++)
                        {
                            float y = KernelHelpers.Get(acc, i);
                            y = activation == 1 ? GpuMath.Tanh(y) : activation == 2 ? GpuMath.Sigmoid(y) : y;
                            a.Y[((long)(m0 + i) * a.YStride) + row] = y;
                            if (isValue && a.StoreVFirst != 0)
                            {
                                a.VFirst[((long)(m0 + i) * D) + row - (2 * D)] = y;
                            }
                        }
                    }
                }
                """);
            w.Close();
        }

        private static void EmitLoraUp(IndentedWriter w, ShapeNumbers n, string f)
        {
            w.Line();
            w.Summary(
                "LoRA up-projections, four segments of D rows with their own input width and activation:",
                "w = exp(−e^(−1/2)·sigmoid(w0 + W2·hw)), a = sigmoid(a0 + A2·ha), g = G2·hg, v = v + (v_first − v)·sigmoid(v0 + V2·hv).",
                $"Shapes: W = W2 [D][{n.DecayRank}] | A2 [D][{n.IclrRank}] | G2 [D][{n.GateRank}] | V2 [D][{n.ValueRank}], hidden vectors in P -> Q [tokens][4·D].");
            w.Open($"private static void LoraUp{f}(LoraUpArgs a)");
            Block(w, ProductPrologue);
            Block(w, $$"""

                int segment = row / D;
                int i = row - (segment * D);
                for (int m0 = 0; m0 < a.Tokens; m0 += Tile)
                {
                    // The segment is the same for all rows of a group when D is a multiple of the rows per group.
                    Acc4 acc = segment == 0 ? Dot{{n.DecayRank}}{{f}}(a.W, (long)i * {{Words("RW", f)}}, a.P, 3 * D, a.PStride, m0, a.Tokens, lane, lanes)
                        : segment == 1 ? Dot{{n.IclrRank}}{{f}}(a.W, ((long)D * {{Words("RW", f)}}) + ((long)i * {{Words("RA", f)}}), a.P, (3 * D) + RW, a.PStride, m0, a.Tokens, lane, lanes)
                        : segment == 2 ? Dot{{n.GateRank}}{{f}}(a.W, ((long)D * {{Words("(RW + RA)", f)}}) + ((long)i * {{Words("RG", f)}}), a.P, (3 * D) + RW + RA, a.PStride, m0, a.Tokens, lane, lanes)
                        : Dot{{n.ValueRank}}{{f}}(a.W, ((long)D * {{Words("(RW + RA + RG)", f)}}) + ((long)i * {{Words("RV", f)}}), a.P, (3 * D) + RW + RA + RG, a.PStride, m0, a.Tokens, lane, lanes);
                    acc = KernelHelpers.LaneSum(acc, partials, t, lane, lanes);
                    if (valid && lane == 0)
                    {
                        for (int n = 0; n < Tile && m0 + n < a.Tokens; n++)
                        {
                            long m = m0 + n;
                            float sum = KernelHelpers.Get(acc, n);
                            float bias = a.Bias[row];
                            float y;
                            if (segment == 0)
                            {
                                y = GpuMath.Exp(-GpuMath.DecayScale * GpuMath.Sigmoid(bias + sum));
                            }
                            else if (segment == 1)
                            {
                                y = GpuMath.Sigmoid(bias + sum);
                            }
                            else if (segment == 2)
                            {
                                y = sum;
                            }
                            else
                            {
                                float v = a.P[(m * a.PStride) + (2 * D) + i];
                                y = v + ((a.VFirst[(m * D) + i] - v) * GpuMath.Sigmoid(bias + sum));
                            }

                            a.Q[(m * 4 * D) + row] = y;
                        }
                    }
                }
                """);
            w.Close();
        }

        private static void EmitMatMul(IndentedWriter w, string name, string k, int kValue, string uses, string f)
        {
            w.Line();
            w.Summary(
                $"y[m][o] = epilogue(W[o]·x[m]) with K = {k} inputs ({uses}); epilogue store, add to y, or relu².",
                $"Shapes: W [OutRows][{k}], x [tokens][XStride] -> y [tokens][YStride].");
            w.Open($"private static void {name}{f}(MatMulArgs a)");
            Block(w, ProductPrologue);
            Block(w, $$"""

                long weights = (long)row * {{Words(k, f)}};
                for (int m0 = 0; m0 < a.Tokens; m0 += Tile)
                {
                    Acc4 acc = KernelHelpers.LaneSum(Dot{{kValue}}{{f}}(a.W, weights, a.X, 0, a.XStride, m0, a.Tokens, lane, lanes), partials, t, lane, lanes);
                    if (valid && lane == 0)
                    {
                        for (int i = 0; i < Tile && m0 + i < a.Tokens; i++)
                        {
                            float sum = KernelHelpers.Get(acc, i);
                            long at = ((long)(m0 + i) * a.YStride) + row;
                            if (a.Epilogue == Epilogue.Accumulate)
                            {
                                a.Y[at] = a.Y[at] + sum;
                            }
                            else if (a.Epilogue == Epilogue.ReluSquared)
                            {
                                float r = GpuMath.Max(sum, 0f);
                                a.Y[at] = r * r;
                            }
                            else
                            {
                                a.Y[at] = sum;
                            }
                        }
                    }
                }
                """);
            w.Close();
        }
    }
}
