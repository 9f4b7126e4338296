using System;
using System.Linq;
using Rwkv7.Gen.Generator.Model;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class ModelEmitter
    {
        private static void EmitElementwise(IndentedWriter w, KernelPlan plan)
        {
            EmitLayerNorm(w, plan);
            EmitTimeMixInputs(w, plan);
            EmitChannelMixInput(w, plan);
            EmitKeyPrep(w, plan);
            EmitHeadOutput(w, plan);
        }

        /// <summary>
        /// Writes a public entry that checks spans, takes references and calls the widest accelerated path, then a
        /// method per path of <see cref="KernelPlan.VectorPaths"/>.
        /// </summary>
        private static void EmitEntry(IndentedWriter w, KernelPlan plan, string signature, string name, (string Param, string Length, bool Writable)[] spans, string[] arrays, Action<IndentedWriter, VectorWidth> body, string[] bodyParams, bool headRange = false)
        {
            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open($"public static void {name}({signature}{(headRange ? ", int headStart, int headEnd" : "")})");
            if (headRange)
            {
                w.Line("KernelChecks.Heads(headStart, headEnd, H);");
            }

            foreach ((string p, string length, _) in spans)
            {
                w.Line($"KernelChecks.Length({p}.Length, {length}, nameof({p}));");
            }

            foreach ((string p, _, _) in spans)
            {
                w.Line($"ref float {p}R = ref MemoryMarshal.GetReference({p});");
            }

            foreach (string a in arrays)
            {
                int dot = a.IndexOf('.');
                string local = char.ToLowerInvariant(a[dot + 1]) + a.Substring(dot + 2) + "R";
                w.Line($"ref float {local} = ref MemoryMarshal.GetArrayDataReference({a});");
            }

            string args = string.Join(", ", Array.ConvertAll(bodyParams, p => "ref " + p + "R")) + (headRange ? ", (nuint)headStart * N, (nuint)headEnd * N" : "");
            for (int i = 0; i < plan.VectorPaths.Count; i++)
            {
                VectorWidth v = VectorWidth.Of(plan.VectorPaths[i]);
                w.Open(v.IsScalar ? "else" : (i == 0 ? "if (" : "else if (") + v.IsAccelerated + ")");
                w.Line($"{name}{v.Suffix}({args});");
                w.Close();
            }

            w.Close();

            foreach (VectorWidth v in plan.VectorPaths.Select(VectorWidth.Of))
            {
                w.Line();
                w.Line($"/// <summary><see cref=\"{name}\"/> with {v.Description}.</summary>");
                w.Line(AggressiveOptimization);
                w.Open($"private static void {name}{v.Suffix}({string.Join(", ", Array.ConvertAll(bodyParams, p => "ref float " + p))}{(headRange ? ", nuint first, nuint end" : "")})");
                body(w, v);
                w.Close();
            }
        }

        private static string Step(VectorWidth v) => VectorWidth.Int(v.Lanes);

        private static void EmitLayerNorm(IndentedWriter w, KernelPlan plan)
        {
            EmitEntry(
                w,
                plan,
                "ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y",
                "LayerNorm",
                new[] { ("x", "D", false), ("weight", "D", false), ("bias", "D", false), ("y", "D", true) },
                Array.Empty<string>(),
                (w2, v) =>
                {
                    w2.Line("// [D] → [D]: (x - mean) / sqrt(variance + eps) · weight + bias, biased variance; y may alias x.");
                    w2.Line($"{v.Float} acc = {v.Zero};");
                    w2.Open($"for (nuint i = 0; i < D; i += {Step(v)})");
                    w2.Line($"acc += {v.Load("x", "i")};");
                    w2.Close();
                    w2.Line($"float mean = {v.Sum("acc")} / D;");
                    w2.Line($"{v.Float} m = {v.Splat("mean")};");
                    w2.Line($"acc = {v.Zero};");
                    w2.Open($"for (nuint i = 0; i < D; i += {Step(v)})");
                    w2.Line($"{v.Float} d = {v.Load("x", "i")} - m;");
                    w2.Line($"acc = {v.Fma("d", "d", "acc")};");
                    w2.Close();
                    w2.Line($"{v.Float} inv = {v.Splat($"1f / MathF.Sqrt(({v.Sum("acc")} / D) + LayerNormEps)")};");
                    w2.Open($"for (nuint i = 0; i < D; i += {Step(v)})");
                    w2.Line($"{v.Float} d = ({v.Load("x", "i")} - m) * inv;");
                    w2.Line(v.Store(v.Fma("d", v.Load("weight", "i"), v.Load("bias", "i")), "y", "i"));
                    w2.Close();
                },
                new[] { "x", "weight", "bias", "y" });
        }

        private static void EmitTimeMixInputs(IndentedWriter w, KernelPlan plan)
        {
            string[] outs = { "xr", "xw", "xk", "xv", "xa", "xg" };
            string[] mixes = { "layer.MixR", "layer.MixW", "layer.MixK", "layer.MixV", "layer.MixA", "layer.MixG" };
            var spans = new (string, string, bool)[2 + outs.Length];
            spans[0] = ("h", "D", false);
            spans[1] = ("previous", "D", false);
            for (int i = 0; i < outs.Length; i++)
            {
                spans[2 + i] = (outs[i], "D", true);
            }

            var bodyParams = new[] { "h", "previous", "mixR", "mixW", "mixK", "mixV", "mixA", "mixG", "xr", "xw", "xk", "xv", "xa", "xg" };
            EmitEntry(
                w,
                plan,
                "ReadOnlySpan<float> h, ReadOnlySpan<float> previous, LayerWeights layer, Span<float> xr, Span<float> xw, Span<float> xk, Span<float> xv, Span<float> xa, Span<float> xg",
                "TimeMixInputs",
                spans,
                mixes,
                (w2, v) =>
                {
                    w2.Line("// [D] each: x_m = h + (previous - h) · mix_m for m = r, w, k, v, a, g");
                    w2.Open($"for (nuint i = 0; i < D; i += {Step(v)})");
                    w2.Line($"{v.Float} hv = {v.Load("h", "i")};");
                    w2.Line($"{v.Float} dv = {v.Load("previous", "i")} - hv;");
                    for (int k = 0; k < outs.Length; k++)
                    {
                        string mix = bodyParams[2 + k];
                        w2.Line(v.Store(v.Fma("dv", v.Load(mix, "i"), "hv"), outs[k], "i"));
                    }

                    w2.Close();
                },
                bodyParams);
        }

        private static void EmitChannelMixInput(IndentedWriter w, KernelPlan plan)
        {
            EmitEntry(
                w,
                plan,
                "ReadOnlySpan<float> h, ReadOnlySpan<float> previous, LayerWeights layer, Span<float> xk",
                "ChannelMixInput",
                new[] { ("h", "D", false), ("previous", "D", false), ("xk", "D", true) },
                new[] { "layer.FfnMixK" },
                (w2, v) =>
                {
                    w2.Line("// [D]: x_k = h + (previous - h) · ffn.x_k");
                    w2.Open($"for (nuint i = 0; i < D; i += {Step(v)})");
                    w2.Line($"{v.Float} hv = {v.Load("h", "i")};");
                    w2.Line(v.Store(v.Fma($"{v.Load("previous", "i")} - hv", v.Load("ffnMixK", "i"), "hv"), "xk", "i"));
                    w2.Close();
                },
                new[] { "h", "previous", "ffnMixK", "xk" });
        }

        private static void EmitKeyPrep(IndentedWriter w, KernelPlan plan)
        {
            EmitEntry(
                w,
                plan,
                "Span<float> k, Span<float> kk, ReadOnlySpan<float> a, LayerWeights layer",
                "KeyPrep",
                new[] { ("k", "D", true), ("kk", "D", true), ("a", "D", false) },
                new[] { "layer.KeyK", "layer.KeyA" },
                (w2, v) =>
                {
                    w2.Line("// channels [first, end) (whole heads): kk = k · k_k, L2-normalized within each head of 64; then k = k · (1 + (a - 1) · k_a)");
                    w2.Open("for (nuint h = first; h < end; h += N)");
                    w2.Line($"{v.Float} acc = {v.Zero};");
                    ForHead(w2, plan, v, c =>
                    {
                        string at = Offset("h", c);
                        w2.Line($"{{ {v.Float} kkv = {v.Load("k", at)} * {v.Load("keyK", at)}; {v.Store("kkv", "kk", at)} acc = {v.Fma("kkv", "kkv", "acc")}; }}");
                    });
                    w2.Line($"{v.Float} inv = {v.Splat($"1f / MathF.Max(MathF.Sqrt({v.Sum("acc")}), NormFloor)")};");
                    ForHead(w2, plan, v, c =>
                    {
                        string at = Offset("h", c);
                        w2.Line(v.Store($"{v.Load("kk", at)} * inv", "kk", at));
                    });
                    w2.Close();
                    w2.Line($"{v.Float} one = {v.Splat("1f")};");
                    w2.Open($"for (nuint i = first; i < end; i += {Step(v)})");
                    w2.Line(v.Store($"{v.Load("k", "i")} * {v.Fma($"{v.Load("a", "i")} - one", v.Load("keyA", "i"), "one")}", "k", "i"));
                    w2.Close();
                },
                new[] { "k", "kk", "a", "keyK", "keyA" },
                headRange: true);
        }

        private static void EmitHeadOutput(IndentedWriter w, KernelPlan plan)
        {
            EmitEntry(
                w,
                plan,
                "Span<float> y, ReadOnlySpan<float> r, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> g, LayerWeights layer",
                "HeadOutput",
                new[] { ("y", "D", true), ("r", "D", false), ("k", "D", false), ("v", "D", false), ("g", "D", false) },
                new[] { "layer.LnXWeight", "layer.LnXBias", "layer.BonusRK" },
                (w2, v) =>
                {
                    w2.Line("// Per head of 64 in channels [first, end): y = (GroupNorm(y) · ln_x.weight + ln_x.bias + (Σ r·k·r_k) · v) · g");
                    w2.Open("for (nuint h = first; h < end; h += N)");
                    w2.Line($"{v.Float} acc = {v.Zero};");
                    ForHead(w2, plan, v, c => w2.Line($"acc += {v.Load("y", Offset("h", c))};"));
                    w2.Line($"{v.Float} m = {v.Splat($"{v.Sum("acc")} / N")};");
                    w2.Line($"acc = {v.Zero};");
                    w2.Line($"{v.Float} bonus = {v.Zero};");
                    ForHead(w2, plan, v, c =>
                    {
                        string at = Offset("h", c);
                        w2.Line($"{{ {v.Float} d = {v.Load("y", at)} - m; acc = {v.Fma("d", "d", "acc")}; bonus = {v.Fma($"{v.Load("r", at)} * {v.Load("k", at)}", v.Load("bonusRK", at), "bonus")}; }}");
                    });
                    w2.Line($"{v.Float} inv = {v.Splat($"1f / MathF.Sqrt(({v.Sum("acc")} / N) + GroupNormEps)")};");
                    w2.Line($"{v.Float} b = {v.Splat(v.Sum("bonus"))};");
                    ForHead(w2, plan, v, c =>
                    {
                        string at = Offset("h", c);
                        w2.Line($"{{ {v.Float} o = {v.Fma($"({v.Load("y", at)} - m) * inv", v.Load("lnXWeight", at), v.Load("lnXBias", at))}; o = {v.Fma("b", v.Load("v", at), "o")}; {v.Store($"o * {v.Load("g", at)}", "y", at)} }}");
                    });
                    w2.Close();
                },
                new[] { "y", "r", "k", "v", "g", "lnXWeight", "lnXBias", "bonusRK" },
                headRange: true);
        }

        /// <summary>
        /// Writes <paramref name="body"/> for each vector of a head: written out, or as a loop, as the plan's
        /// <see cref="KernelPlan.HeadLoops"/> says for this width.
        /// </summary>
        private static void ForHead(IndentedWriter w, KernelPlan plan, VectorWidth v, Action<string> body)
        {
            HeadLoopPlan head = plan.HeadLoops.Single(h => VectorWidth.Of(h.Path) == v);
            if (head.WrittenOut)
            {
                for (int i = 0; i < head.Vectors; i++)
                {
                    body(VectorWidth.Int(i * v.Lanes));
                }
            }
            else
            {
                w.Open($"for (nuint c = 0; c < N; c += {Step(v)})");
                body("c");
                w.Close();
            }
        }

        private static string Offset(string baseExpr, string offset) => offset == "0" ? baseExpr : $"{baseExpr} + {offset}";
    }
}
