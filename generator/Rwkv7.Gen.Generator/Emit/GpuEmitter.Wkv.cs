using System.Globalization;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class GpuEmitter
    {
        /// <summary>Head size: the WKV kernel keeps one state row of this many floats in registers per thread.</summary>
        private const int HeadSize = ModelMath.HeadSize;

        /// <summary>
        /// The WKV-7 kernel: one group of 64 threads per (run, head); thread i owns value channel i and keeps its state
        /// row S[i][0..63] in 64 registers (s00 … s63, unrolled here) for all tokens of the run.
        /// </summary>
        private static void EmitWkv(IndentedWriter w)
        {
            w.Line();
            Block(w, """
                /// <summary>
                /// WKV-7 with everything around it that needs the whole head, for each token of the run in order:
                /// kk = normalize(k·k_k) over the head; k' = k·(1 + (a − 1)·k_a);
                /// S' = S·diag(w) − (S·kk)(kk·a)ᵀ + v·k'ᵀ; y = S'·r; then Y = (GroupNorm(y)·ln_x + (Σ r·k'·r_k)·v)·g.
                /// Thread i keeps S[i][j] (state stored [j key][i value], so loads are coalesced) in registers across the run.
                /// Two barriers per token; the per-token vectors in shared memory are double-buffered by token parity.
                /// Shapes: P [tokens][P], Q [tokens][4·D], V [tokens][VStride], head vectors [5][D], state [H][64][64]
                /// per layer and session -> Y [tokens][D]. Grid: runs × H groups of 64 threads.
                /// </summary>
                private static void WkvKernel(WkvArgs a)
                {
                    ArrayView<float> sharedW = SharedMemory.Allocate<float>(2 * N);
                    ArrayView<float> sharedKK = SharedMemory.Allocate<float>(2 * N);
                    ArrayView<float> sharedKA = SharedMemory.Allocate<float>(2 * N);
                    ArrayView<float> sharedK = SharedMemory.Allocate<float>(2 * N);
                    ArrayView<float> sharedR = SharedMemory.Allocate<float>(2 * N);
                    ArrayView<float> sharedY = SharedMemory.Allocate<float>(2 * N);
                    ArrayView<float> sharedBonus = SharedMemory.Allocate<float>(2 * N);
                    int run = Grid.IdxX / H;
                    int head = Grid.IdxX - (run * H);
                    int i = Group.IdxX;
                    int c = (head * N) + i; // this thread's channel
                    long st = a.WkvOffset + (run * a.SessionStride) + ((long)head * N * N) + i; // S[i][j] at st + j·N
                    float keyK = a.HeadVectors[c], keyA = a.HeadVectors[D + c], bonusRK = a.HeadVectors[(2 * D) + c];
                    float lnxWeight = a.HeadVectors[(3 * D) + c], lnxBias = a.HeadVectors[(4 * D) + c];

                    // This thread's state row, S[i][0..63].
                """);
            for (int j = 0; j < HeadSize; j += 4)
            {
                w.Line("    " + Join(j, 4, "float {0} = a.State[st + ({1} * N)];", " "));
            }

            Block(w, """
                    for (int step = 0; step < a.RunLength; step++)
                    {
                        long m = (run * a.RunLength) + step;
                        int b = (step & 1) * N; // buffer of this token's shared vectors
                        float r = a.P[(m * a.PStride) + c];
                        float k = a.P[(m * a.PStride) + D + c];
                        float v = a.V[(m * a.VStride) + c];
                        float w = a.Q[(m * 4 * D) + c];
                        float ai = a.Q[(m * 4 * D) + D + c];
                        float g = a.Q[(m * 4 * D) + (2 * D) + c];
                        float kk = k * keyK;                        // removal key, not yet normalized
                        float kNew = k * (1f + ((ai - 1f) * keyA)); // k = k·(1 + (a − 1)·k_a)
                        sharedW[b + i] = w;
                        sharedKK[b + i] = kk;
                        sharedKA[b + i] = kk * ai;
                        sharedK[b + i] = kNew;
                        sharedR[b + i] = r;
                        Group.Barrier();

                        // kk is normalized over the head: kk_j = kk_raw_j · inv.
                        float norm2 = 0f;
                        for (int j = 0; j < N; j++)
                        {
                            float q = sharedKK[b + j];
                            norm2 += q * q;
                        }

                        float inv = 1f / GpuMath.Max(MathF.Sqrt(norm2), GpuMath.NormFloor);

                        // sa = S·kk with the previous state.
                        float sa = 0f;
                """);
            for (int j = 0; j < HeadSize; j += 4)
            {
                w.Line("        " + Join(j, 4, "sa += {0} * sharedKK[b + {1}];", " "));
            }

            Block(w, """
                        sa *= inv;

                        // S[i][j] = S[i][j]·w_j − sa·kk_j·a_j + v_i·k'_j, then y += S[i][j]·r_j (kk_j·a_j = inv·kk_raw_j·a_j).
                        float removal = sa * inv;
                        float y = 0f;
                """);
            for (int j = 0; j < HeadSize; j++)
            {
                string s = Name(j), jj = j.ToString(CultureInfo.InvariantCulture);
                w.Line($"        {s} = ({s} * sharedW[b + {jj}]) - (removal * sharedKA[b + {jj}]) + (v * sharedK[b + {jj}]); y += {s} * sharedR[b + {jj}];");
            }

            Block(w, """

                        // GroupNorm over the head (eps 64e-5) with ln_x, the bonus (Σ r·k'·r_k)·v, and the gate.
                        sharedY[b + i] = y;
                        sharedBonus[b + i] = r * kNew * bonusRK;
                        Group.Barrier();
                        float mean = 0f, bonus = 0f;
                        for (int j = 0; j < N; j++)
                        {
                            mean += sharedY[b + j];
                            bonus += sharedBonus[b + j];
                        }

                        mean /= N;
                        float variance = 0f;
                        for (int j = 0; j < N; j++)
                        {
                            float d = sharedY[b + j] - mean;
                            variance += d * d;
                        }

                        variance /= N;
                        float normed = ((y - mean) * GpuMath.InvSqrt(variance + GpuMath.GroupNormEps) * lnxWeight) + lnxBias;
                        a.Y[(m * D) + c] = (normed + (bonus * v)) * g;
                    }

                    // Store the state row back.
                """);
            for (int j = 0; j < HeadSize; j += 4)
            {
                w.Line("    " + Join(j, 4, "a.State[st + ({1} * N)] = {0};", " "));
            }

            w.Line("}");
        }

        private static string Name(int j) => "s" + j.ToString("D2", CultureInfo.InvariantCulture);

        private static string Join(int first, int count, string format, string separator)
        {
            var parts = new string[count];
            for (int n = 0; n < count; n++)
            {
                parts[n] = string.Format(CultureInfo.InvariantCulture, format, Name(first + n), first + n);
            }

            return string.Join(separator, parts);
        }
    }
}
