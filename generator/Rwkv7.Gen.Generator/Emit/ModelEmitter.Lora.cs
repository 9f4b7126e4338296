using System.Linq;
using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class ModelEmitter
    {
        /// <summary>
        /// The four LoRA MLPs of the time mix. In a one-token step (decode, and each row of a batch on integer inputs) a
        /// factor whose weights are 8-bit and whose input width has a 16-bit-input kernel (<see cref="KernelPlan.Int16MatMuls"/>)
        /// reads its input rounded to 16 bits, as decode's other 8-bit products do: the fp32-input product widens every
        /// weight to fp32 and ran these small matrices at about half that rate (docs/benchmarks.md, change 58). Several
        /// tokens (prefill) keep fp32 inputs and the tiled products.
        /// </summary>
        private static void EmitLoras(IndentedWriter w, ShapeNumbers n, KernelPlan plan)
        {
            int d = n.Embedding;
            bool Int16(int inputs) => plan.Int16MatMuls.Any(m => m.Inputs == inputs);
            EmitLora(
                w, "DecayLora", "xw", "w", n.DecayRank, "DecayDown", "DecayUp",
                $"[T][{n.DecayRank}] = tanh(x_w · W1); w = exp(-e^(-1/2) · sigmoid(w0 + [T][{n.DecayRank}] · W2)), [T][{d}]",
                hiddenActivation: "Activations.Tanh(hidden);",
                bias: "DecayBias",
                outputOps: new[] { "Activations.Decay(w, -DecayScale);" },
                Int16(d),
                Int16(n.DecayRank));
            EmitLora(
                w, "IclrLora", "xa", "a", n.IclrRank, "IclrDown", "IclrUp",
                $"[T][{n.IclrRank}] = x_a · A1; a = sigmoid(a0 + [T][{n.IclrRank}] · A2), [T][{d}]",
                hiddenActivation: null,
                bias: "IclrBias",
                outputOps: new[] { "Activations.Sigmoid(a);" },
                Int16(d),
                Int16(n.IclrRank));
            EmitLora(
                w, "GateLora", "xg", "g", n.GateRank, "GateDown", "GateUp",
                $"[T][{n.GateRank}] = sigmoid(x_g · G1); g = [T][{n.GateRank}] · G2, [T][{d}]",
                hiddenActivation: "Activations.Sigmoid(hidden);",
                bias: null,
                outputOps: new string[0],
                Int16(d),
                Int16(n.GateRank));
            EmitLora(
                w, "ValueLora", "xv", "mix", n.ValueRank, "ValueDown", "ValueUp",
                $"[T][{n.ValueRank}] = x_v · V1; mix = sigmoid(v0 + [T][{n.ValueRank}] · V2), [T][{d}]",
                hiddenActivation: null,
                bias: "ValueBias",
                outputOps: new[] { "Activations.Sigmoid(mix);" },
                Int16(d),
                Int16(n.ValueRank));
        }

        private static void EmitLora(
            IndentedWriter w, string name, string input, string output, int rank, string down, string up, string comment,
            string? hiddenActivation, string? bias, string[] outputOps, bool downInt16, bool upInt16)
        {
            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Line(AggressiveOptimization);
            w.Open($"public static void {name}<{Fetch}>(ReadOnlySpan<float> {input}, LayerWeights layer, Span<float> {output}, Span<float> scratch, int tokens) {FetchConstraint}");
            w.Line("// " + comment);
            w.Line($"Span<float> hidden = scratch.Slice(0, tokens * {rank});");
            w.Line($"{output} = {output}.Slice(0, tokens * D);");
            string ranks = rank.ToString(System.Globalization.CultureInfo.InvariantCulture);
            EmitLoraFactor(w, down, input, "D", "hidden", ranks, downInt16);
            if (hiddenActivation is not null)
            {
                w.Line(hiddenActivation);
            }

            EmitLoraFactor(w, up, "hidden", ranks, output, "D", upInt16);
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

        /// <summary>One factor of a LoRA: <paramref name="x"/> [T][<paramref name="inputs"/>] times the matrix into <paramref name="y"/> [T][<paramref name="outputs"/>].</summary>
        private static void EmitLoraFactor(IndentedWriter w, string matrix, string x, string inputs, string y, string outputs, bool int16)
        {
            string fp32 = $"MatMul<{Fetch}>(layer.{matrix}, {x}, {y}, tokens, {outputs}, 0, {outputs}, accumulate: false);";
            if (!int16)
            {
                w.Line(fp32);
                return;
            }

            w.Open($"if (tokens == 1 && layer.{matrix}.Type == TensorDType.Q8)");
            w.Line($"// One token, 8-bit weights: the input rounded to 16 bits per block of {ModelMath.Q8BlockSize}, int8 × int16 sums (change 58).");
            w.Line($"Span<short> values = stackalloc short[{inputs}];");
            w.Line($"Span<float> scales = stackalloc float[{inputs} / {ModelMath.Q8BlockSize}];");
            w.Line($"Activations.RoundToInt16({x}.Slice(0, {inputs}), values, scales);");
            w.Line($"MatMulQ8Int16<{Fetch}>(layer.{matrix}, values, scales, {y}, 0, {outputs}, accumulate: false);");
            w.Close();
            w.Open("else");
            w.Line(fp32);
            w.Close();
        }
    }
}
