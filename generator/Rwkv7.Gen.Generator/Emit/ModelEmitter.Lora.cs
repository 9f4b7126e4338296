using Rwkv7.Gen.Generator.Model;

namespace Rwkv7.Gen.Generator.Emit
{
    internal static partial class ModelEmitter
    {
        private static void EmitLoras(IndentedWriter w, ShapeSpec s)
        {
            int dw = s.DecayRank, da = s.IclrRank, dv = s.ValueRank, dg = s.GateRank;

            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open("public static void DecayLora(ReadOnlySpan<float> xw, LayerWeights layer, Span<float> w, Span<float> scratch)");
            w.Line($"// [{dw}] = tanh([{dw}][{s.Embedding}] · x_w); w = exp(-e^(-1/2) · sigmoid(w0 + [{s.Embedding}][{dw}] · ·))");
            w.Line("w = w.Slice(0, D);");
            w.Line($"Span<float> hidden = scratch.Slice(0, {dw});");
            w.Line($"MatMul(layer.DecayDown, xw, hidden, 1, {dw}, 0, {dw}, accumulate: false);");
            w.Line("TensorPrimitives.Tanh(hidden, hidden);");
            w.Line("MatMul(layer.DecayUp, hidden, w, 1, D, 0, D, accumulate: false);");
            w.Line("TensorPrimitives.Add(w, layer.DecayBias, w);");
            w.Line("TensorPrimitives.Sigmoid(w, w);");
            w.Line("TensorPrimitives.Multiply(w, -DecayScale, w);");
            w.Line("TensorPrimitives.Exp(w, w);");
            w.Close();

            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open("public static void IclrLora(ReadOnlySpan<float> xa, LayerWeights layer, Span<float> a, Span<float> scratch)");
            w.Line($"// [{da}] = [{da}][{s.Embedding}] · x_a; a = sigmoid(a0 + [{s.Embedding}][{da}] · ·)");
            w.Line("a = a.Slice(0, D);");
            w.Line($"Span<float> hidden = scratch.Slice(0, {da});");
            w.Line($"MatMul(layer.IclrDown, xa, hidden, 1, {da}, 0, {da}, accumulate: false);");
            w.Line("MatMul(layer.IclrUp, hidden, a, 1, D, 0, D, accumulate: false);");
            w.Line("TensorPrimitives.Add(a, layer.IclrBias, a);");
            w.Line("TensorPrimitives.Sigmoid(a, a);");
            w.Close();

            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open("public static void GateLora(ReadOnlySpan<float> xg, LayerWeights layer, Span<float> g, Span<float> scratch)");
            w.Line($"// [{dg}] = sigmoid([{dg}][{s.Embedding}] · x_g); g = [{s.Embedding}][{dg}] · ·");
            w.Line("g = g.Slice(0, D);");
            w.Line($"Span<float> hidden = scratch.Slice(0, {dg});");
            w.Line($"MatMul(layer.GateDown, xg, hidden, 1, {dg}, 0, {dg}, accumulate: false);");
            w.Line("TensorPrimitives.Sigmoid(hidden, hidden);");
            w.Line("MatMul(layer.GateUp, hidden, g, 1, D, 0, D, accumulate: false);");
            w.Close();

            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open("public static void ValueLora(ReadOnlySpan<float> xv, LayerWeights layer, Span<float> v, ReadOnlySpan<float> vFirst, Span<float> scratch)");
            w.Line($"// [{dv}] = [{dv}][{s.Embedding}] · x_v; mix = sigmoid(v0 + [{s.Embedding}][{dv}] · ·); v += (v_first - v) · mix");
            w.Line("v = v.Slice(0, D);");
            w.Line($"Span<float> hidden = scratch.Slice(0, {dv});");
            w.Line($"Span<float> mix = scratch.Slice({dv}, D);");
            w.Line($"MatMul(layer.ValueDown, xv, hidden, 1, {dv}, 0, {dv}, accumulate: false);");
            w.Line("MatMul(layer.ValueUp, hidden, mix, 1, D, 0, D, accumulate: false);");
            w.Line("TensorPrimitives.Add(mix, layer.ValueBias, mix);");
            w.Line("TensorPrimitives.Sigmoid(mix, mix);");
            w.Line("TensorPrimitives.Lerp(v, vFirst.Slice(0, D), mix, v);");
            w.Close();
        }
    }
}
