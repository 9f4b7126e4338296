using Rwkv7.Gen.Generator.Model;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class ModelEmitter
    {
        private static void EmitWkv(IndentedWriter w, KernelPlan plan)
        {
            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open("public static void Wkv(Span<float> state, ReadOnlySpan<float> r, ReadOnlySpan<float> w, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> kk, ReadOnlySpan<float> a, Span<float> y)");
            w.Line("KernelChecks.Length(state.Length, N * N, nameof(state));");
            foreach (string p in new[] { "r", "w", "k", "v", "kk", "a", "y" })
            {
                w.Line($"KernelChecks.Length({p}.Length, N, nameof({p}));");
            }

            string[] names = { "state", "r", "w", "k", "v", "kk", "a", "y" };
            foreach (string p in names)
            {
                w.Line($"ref float {p}R = ref MemoryMarshal.GetReference({p});");
            }

            string args = "(ref stateR, ref rR, ref wR, ref kR, ref vR, ref kkR, ref aR, ref yR);";
            for (int i = 0; i < plan.Wkv.Count; i++)
            {
                VectorWidth v = VectorWidth.Of(plan.Wkv[i].Path);
                w.Open(v.IsScalar ? "else" : (i == 0 ? "if (" : "else if (") + v.IsAccelerated + ")");
                w.Line($"Wkv{v.Suffix}{args}");
                w.Close();
            }

            w.Close();

            foreach (WkvPlan path in plan.Wkv)
            {
                if (path.VectorsPerBlock == 0)
                {
                    EmitWkvScalar(w);
                }
                else
                {
                    EmitWkvVector(w, path);
                }
            }
        }

        private static void EmitWkvVector(IndentedWriter w, WkvPlan plan)
        {
            VectorWidth v = VectorWidth.Of(plan.Path);
            int vectors = plan.VectorsPerBlock, blocks = plan.Blocks;
            int blockChannels = vectors * v.Lanes;
            w.Line();
            w.Summary(
                $"<see cref=\"Wkv\"/> with {v.Description}: the state is [64 key j][64 value i]; value channels are",
                $"processed {blockChannels} at a time ({vectors} vectors held in registers, {blocks} block(s)), each with a loop over the 64 key channels.");
            w.Line(AggressiveOptimization);
            w.Open($"private static void Wkv{v.Suffix}(ref float s, ref float r, ref float w, ref float k, ref float v, ref float kk, ref float a, ref float y)");
            bool loop = blocks > 1;
            if (loop)
            {
                w.Open($"for (nuint c = 0; c < N; c += {blockChannels})");
            }

            string c0 = loop ? "c" : "0";
            w.Line($"ref float sc = ref Unsafe.Add(ref s, {c0});");

            w.Line($"// Pass 1: sa = S·kk for these value channels (S is the previous state).");
            for (int q = 0; q < vectors; q++)
            {
                w.Line($"{v.Float} sa{q} = {v.Zero};");
            }

            w.Open("for (nuint j = 0; j < N; j++)");
            w.Line("ref float row = ref Unsafe.Add(ref sc, j * N);");
            w.Line($"{v.Float} kkj = {v.Splat("Unsafe.Add(ref kk, j)")};");
            for (int q = 0; q < vectors; q++)
            {
                w.Line($"sa{q} = {v.Fma(v.Load("row", VectorWidth.Int(q * v.Lanes)), "kkj", $"sa{q}")};");
            }

            w.Close();

            w.Line("// Pass 2: S[j] = S[j]·w_j + sa·(-kk_j·a_j) + v·k_j, then y += S[j]·r_j.");
            for (int q = 0; q < vectors; q++)
            {
                string at = loop ? (q == 0 ? "c" : $"c + {q * v.Lanes}") : VectorWidth.Int(q * v.Lanes);
                w.Line($"{v.Float} v{q} = {v.Load("v", at)}, y{q} = {v.Zero};");
            }

            w.Open("for (nuint j = 0; j < N; j++)");
            w.Line("ref float row = ref Unsafe.Add(ref sc, j * N);");
            w.Line("float kkj = Unsafe.Add(ref kk, j);");
            w.Line($"{v.Float} wj = {v.Splat("Unsafe.Add(ref w, j)")};");
            w.Line($"{v.Float} bj = {v.Splat("-kkj * Unsafe.Add(ref a, j)")};");
            w.Line($"{v.Float} kj = {v.Splat("Unsafe.Add(ref k, j)")};");
            w.Line($"{v.Float} rj = {v.Splat("Unsafe.Add(ref r, j)")};");
            for (int q = 0; q < vectors; q++)
            {
                string at = VectorWidth.Int(q * v.Lanes);
                w.Line($"{v.Float} s{q} = {v.Fma(v.Load("row", at), "wj", v.Fma($"sa{q}", "bj", $"v{q} * kj"))};");
                w.Line(v.Store($"s{q}", "row", at));
                w.Line($"y{q} = {v.Fma($"s{q}", "rj", $"y{q}")};");
            }

            w.Close();
            for (int q = 0; q < vectors; q++)
            {
                string at = loop ? (q == 0 ? "c" : $"c + {q * v.Lanes}") : VectorWidth.Int(q * v.Lanes);
                w.Line(v.Store($"y{q}", "y", at));
            }

            if (loop)
            {
                w.Close();
            }

            w.Close();
        }

        private static void EmitWkvScalar(IndentedWriter w)
        {
            w.Line();
            w.Summary("<see cref=\"Wkv\"/> in scalar code: one value channel at a time.");
            w.Line(AggressiveOptimization);
            w.Open("private static void WkvScalar(ref float s, ref float r, ref float w, ref float k, ref float v, ref float kk, ref float a, ref float y)");
            w.Open("for (nuint i = 0; i < N; i++)");
            w.Line("float sa = 0f;");
            w.Open("for (nuint j = 0; j < N; j++)");
            w.Line("sa += Unsafe.Add(ref s, (j * N) + i) * Unsafe.Add(ref kk, j);");
            w.Close();
            w.Line("float vi = Unsafe.Add(ref v, i);");
            w.Line("float yi = 0f;");
            w.Open("for (nuint j = 0; j < N; j++)");
            w.Line("ref float sij = ref Unsafe.Add(ref s, (j * N) + i);");
            w.Line("sij = (sij * Unsafe.Add(ref w, j)) - (sa * Unsafe.Add(ref kk, j) * Unsafe.Add(ref a, j)) + (vi * Unsafe.Add(ref k, j));");
            w.Line("yi += sij * Unsafe.Add(ref r, j);");
            w.Close();
            w.Line("Unsafe.Add(ref y, i) = yi;");
            w.Close();
            w.Close();
        }
    }
}
