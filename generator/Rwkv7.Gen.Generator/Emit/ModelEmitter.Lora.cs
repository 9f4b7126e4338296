using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class ModelEmitter
    {
        private static void EmitLoras(IndentedWriter w, ShapeNumbers n)
        {
            int d = n.Embedding;
            EmitLora(
                w, "DecayLora", "xw", "w", n.DecayRank, "DecayDown", "DecayUp",
                $"[T][{n.DecayRank}] = tanh(x_w · W1); w = exp(-e^(-1/2) · sigmoid(w0 + [T][{n.DecayRank}] · W2)), [T][{d}]",
                hiddenActivation: "Activations.Tanh(hidden);",
                bias: "DecayBias",
                outputOps: new[] { "Activations.Decay(w, -DecayScale);" });
            EmitLora(
                w, "IclrLora", "xa", "a", n.IclrRank, "IclrDown", "IclrUp",
                $"[T][{n.IclrRank}] = x_a · A1; a = sigmoid(a0 + [T][{n.IclrRank}] · A2), [T][{d}]",
                hiddenActivation: null,
                bias: "IclrBias",
                outputOps: new[] { "Activations.Sigmoid(a);" });
            EmitLora(
                w, "GateLora", "xg", "g", n.GateRank, "GateDown", "GateUp",
                $"[T][{n.GateRank}] = sigmoid(x_g · G1); g = [T][{n.GateRank}] · G2, [T][{d}]",
                hiddenActivation: "Activations.Sigmoid(hidden);",
                bias: null,
                outputOps: new string[0]);
            EmitLora(
                w, "ValueLora", "xv", "mix", n.ValueRank, "ValueDown", "ValueUp",
                $"[T][{n.ValueRank}] = x_v · V1; mix = sigmoid(v0 + [T][{n.ValueRank}] · V2), [T][{d}]",
                hiddenActivation: null,
                bias: "ValueBias",
                outputOps: new[] { "Activations.Sigmoid(mix);" });
        }

        private static void EmitLora(
            IndentedWriter w, string name, string input, string output, int rank, string down, string up, string comment,
            string? hiddenActivation, string? bias, string[] outputOps)
        {
            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Line(AggressiveOptimization);
            w.Open($"public static void {name}<{Fetch}>(ReadOnlySpan<float> {input}, LayerWeights layer, Span<float> {output}, Span<float> scratch, int tokens) {FetchConstraint}");
            w.Line("// " + comment);
            w.Line($"Span<float> hidden = scratch.Slice(0, tokens * {rank});");
            w.Line($"{output} = {output}.Slice(0, tokens * D);");
            w.Line($"MatMul<{Fetch}>(layer.{down}, {input}, hidden, tokens, {rank}, 0, {rank}, accumulate: false);");
            if (hiddenActivation is not null)
            {
                w.Line(hiddenActivation);
            }

            w.Line($"MatMul<{Fetch}>(layer.{up}, hidden, {output}, tokens, D, 0, D, accumulate: false);");
            if (bias is not null)
            {
                w.Open("for (int t = 0; t < tokens; t++)");
                w.Line($"Span<float> row = {output}.Slice(t * D, D);");
                w.Line($"Activations.Add(row, layer.{bias});");
                w.Close();
            }

            foreach (string op in outputOps)
            {
                w.Line(op);
            }

            w.Close();
        }
    }
}
