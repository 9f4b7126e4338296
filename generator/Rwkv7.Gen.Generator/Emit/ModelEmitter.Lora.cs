using Rwkv7.Gen.Generator.Model;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class ModelEmitter
    {
        private static void EmitLoras(IndentedWriter w, ShapeSpec s)
        {
            int d = s.Embedding;
            EmitLora(
                w, "DecayLora", "xw", "w", s.DecayRank, "DecayDown", "DecayUp",
                $"[T][{s.DecayRank}] = tanh(x_w · W1); w = exp(-e^(-1/2) · sigmoid(w0 + [T][{s.DecayRank}] · W2)), [T][{d}]",
                hiddenActivation: "TensorPrimitives.Tanh(hidden, hidden);",
                bias: "DecayBias",
                outputOps: new[] { "TensorPrimitives.Sigmoid(w, w);", "TensorPrimitives.Multiply(w, -DecayScale, w);", "TensorPrimitives.Exp(w, w);" });
            EmitLora(
                w, "IclrLora", "xa", "a", s.IclrRank, "IclrDown", "IclrUp",
                $"[T][{s.IclrRank}] = x_a · A1; a = sigmoid(a0 + [T][{s.IclrRank}] · A2), [T][{d}]",
                hiddenActivation: null,
                bias: "IclrBias",
                outputOps: new[] { "TensorPrimitives.Sigmoid(a, a);" });
            EmitLora(
                w, "GateLora", "xg", "g", s.GateRank, "GateDown", "GateUp",
                $"[T][{s.GateRank}] = sigmoid(x_g · G1); g = [T][{s.GateRank}] · G2, [T][{d}]",
                hiddenActivation: "TensorPrimitives.Sigmoid(hidden, hidden);",
                bias: null,
                outputOps: new string[0]);
            EmitLora(
                w, "ValueLora", "xv", "mix", s.ValueRank, "ValueDown", "ValueUp",
                $"[T][{s.ValueRank}] = x_v · V1; mix = sigmoid(v0 + [T][{s.ValueRank}] · V2), [T][{d}]",
                hiddenActivation: null,
                bias: "ValueBias",
                outputOps: new[] { "TensorPrimitives.Sigmoid(mix, mix);" });
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
                w.Line($"TensorPrimitives.Add(row, layer.{bias}, row);");
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
