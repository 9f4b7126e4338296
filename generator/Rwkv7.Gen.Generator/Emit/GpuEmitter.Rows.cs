namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class GpuEmitter
    {
        /// <summary>Row kernels: a group of G threads per row, thread t owning elements t, t + G, … (G = 1 on the CPU accelerator).</summary>
        private static void EmitRowKernels(IndentedWriter w)
        {
            w.Line();
            Block(w, """
                /// <summary>
                /// LayerNorm statistics of x[offset .. offset + D) (biased variance, eps 1e-5), the same in every thread of
                /// the group. Two group sums (one barrier each when G > 1) over alternating scratch arrays.
                /// </summary>
                private static RowMoments RowStats(ArrayView<float> x, long offset, ArrayView<float> s1, ArrayView<float> s2, int t, int threads)
                {
                    float sum = 0f;
                    for (int e = t; e < D; e += threads)
                    {
                        sum += x[offset + e];
                    }

                    float mean = KernelHelpers.GroupSum(sum, s1, t, threads) / D;
                    float squares = 0f;
                    for (int e = t; e < D; e += threads)
                    {
                        float d = x[offset + e] - mean;
                        squares += d * d;
                    }

                    float variance = KernelHelpers.GroupSum(squares, s2, t, threads) / D;
                    RowMoments m;
                    m.Mean = mean;
                    m.InvStd = GpuMath.InvSqrt(variance + GpuMath.LayerNormEps);
                    return m;
                }
                """);

            foreach (string f in Formats)
            {
                bool bf16 = f == "Bf16";
                w.Line();
                w.Summary(
                    $"x[m] = ln0(emb[tokens[m]]), {(bf16 ? "bf16" : "fp32")} table. Shapes: tokens [rows], emb [V][D] -> x [rows][D].",
                    "One group per row; each thread widens and normalizes its own elements in place.");
                w.Open($"private static void Embed{f}(EmbedArgs a)");
                Block(w, $$"""
                    ArrayView<float> s1 = SharedMemory.Allocate<float>(MaxGroup);
                    ArrayView<float> s2 = SharedMemory.Allocate<float>(MaxGroup);
                    int m = Grid.IdxX, t = Group.IdxX, threads = Group.DimX;
                    long source = (long)a.Tokens[m] * {{(bf16 ? "(D / 2)" : "D")}};
                    long row = (long)m * D;
                    for (int e = t; e < D; e += threads)
                    {
                    {{(bf16
                        ? "    uint pair = a.Embedding[source + (e >> 1)];\n    a.X[row + e] = (e & 1) == 0 ? GpuMath.Bf16Low(pair) : GpuMath.Bf16High(pair);"
                        : "    a.X[row + e] = Interop.IntAsFloat(a.Embedding[source + e]);")}}
                    }

                    RowMoments n = RowStats(a.X, row, s1, s2, t, threads);
                    for (int e = t; e < D; e += threads)
                    {
                        a.X[row + e] = ((a.X[row + e] - n.Mean) * n.InvStd * a.LnWeight[e]) + a.LnBias[e];
                    }
                    """);
                w.Close();
            }

            w.Line();
            Block(w, """
                /// <summary>Time mix input: ln1, then the six token-shift mixes (planes r, k, v, w, a, g).</summary>
                private static void TimeMixInputKernel(TokenShiftArgs a) => TokenShift(a, 6);

                /// <summary>Channel mix input: ln2, then the token-shift mix of the key (one plane).</summary>
                private static void ChannelMixInputKernel(TokenShiftArgs a) => TokenShift(a, 1);

                /// <summary>
                /// h = LayerNorm(x[m]); previous = LayerNorm(x[m - 1]) within a run, or the state's shift vector for a run's
                /// first row; out[p][m] = h + (previous − h)·mix[p]. The group of a run's first row also writes the run's
                /// last h into the state (no other group of the run reads it, so there is no race).
                /// Shapes: x [rows][D], mix [planes][D], out [planes][PlaneStride]; one group per row.
                /// </summary>
                private static void TokenShift(TokenShiftArgs a, int planes)
                {
                    ArrayView<float> s1 = SharedMemory.Allocate<float>(MaxGroup);
                    ArrayView<float> s2 = SharedMemory.Allocate<float>(MaxGroup);
                    int m = Grid.IdxX, t = Group.IdxX, threads = Group.DimX;
                    int run = m / a.RunLength;
                    int step = m - (run * a.RunLength);
                    long row = (long)m * D;
                    long previousRow = row - D;
                    long lastRow = (long)((run * a.RunLength) + a.RunLength - 1) * D;
                    long shift = a.ShiftOffset + (run * a.SessionStride);

                    // Statistics of this row, of the previous row (within the run) and, for a run's first row, of its last.
                    // The conditions are the same for the whole group, so the barriers inside are uniform.
                    RowMoments own = RowStats(a.X, row, s1, s2, t, threads);
                    RowMoments previous = step > 0 ? RowStats(a.X, previousRow, s1, s2, t, threads) : own;
                    RowMoments last = step == 0 ? RowStats(a.X, lastRow, s1, s2, t, threads) : own;
                    for (int e = t; e < D; e += threads)
                    {
                        float lw = a.LnWeight[e], lb = a.LnBias[e];
                        float h = ((a.X[row + e] - own.Mean) * own.InvStd * lw) + lb;
                        float p = step > 0
                            ? ((a.X[previousRow + e] - previous.Mean) * previous.InvStd * lw) + lb
                            : a.State[shift + e];
                        for (int q = 0; q < planes; q++)
                        {
                            a.Out[(q * a.PlaneStride) + row + e] = h + ((p - h) * a.Mix[(q * D) + e]);
                        }

                        if (step == 0)
                        {
                            a.State[shift + e] = ((a.X[lastRow + e] - last.Mean) * last.InvStd * lw) + lb;
                        }
                    }
                }

                /// <summary>
                /// out[m] = ln_out(x[source]), source = m (all rows) or the last row of run m.
                /// Shapes: x [rows][D] -> out [Rows][D]; one group per output row.
                /// </summary>
                private static void FinalNormKernel(FinalNormArgs a)
                {
                    ArrayView<float> s1 = SharedMemory.Allocate<float>(MaxGroup);
                    ArrayView<float> s2 = SharedMemory.Allocate<float>(MaxGroup);
                    int m = Grid.IdxX, t = Group.IdxX, threads = Group.DimX;
                    long source = (long)(a.AllRows != 0 ? m : (m * a.RunLength) + a.RunLength - 1) * D;
                    long row = (long)m * D;
                    RowMoments n = RowStats(a.X, source, s1, s2, t, threads);
                    for (int e = t; e < D; e += threads)
                    {
                        a.Out[row + e] = ((a.X[source + e] - n.Mean) * n.InvStd * a.LnWeight[e]) + a.LnBias[e];
                    }
                }
                """);
        }
    }
}
