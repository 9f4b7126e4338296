using System.Linq;
using System.Text;
using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Planning
{
    /// <summary>
    /// A <see cref="KernelPlan"/> as text a reviewer reads: one line per tile, enum values by name (their meaning is
    /// documented on <see cref="StepForm"/>, <see cref="Accumulators"/> and <see cref="Reduction"/>). The plan snapshot
    /// tests compare it with files beside the generated-code snapshots, so a change of decision shows up as its own diff.
    /// </summary>
    internal static class KernelPlanText
    {
        public static string Write(KernelPlan plan)
        {
            ShapeSpec s = plan.Shape;
            ShapeNumbers n = s.Numbers;
            var w = new StringBuilder();
            w.Append($"Kernel plan of model '{s.Model}' ({s.FullTypeName}, from {s.FileName})\n");
            w.Append($"  D {n.Embedding} ({Plural(n.Heads, "head")} of {n.HeadSize}), FFN {n.Ffn}, LoRA ranks: decay {n.DecayRank}, iclr {n.IclrRank}, value {n.ValueRank}, gate {n.GateRank}\n");
            w.Append($"  weight types with generated products: {string.Join(", ", plan.WeightTypes.Select(t => t.Name()))}\n");
            w.Append($"  input widths: {string.Join(", ", plan.InputWidths)}\n");

            w.Append("\nRun-time variants\n");
            w.Append($"  prefetch policy (TPrefetch): {string.Join(", ", plan.Prefetch.Kernels)} and their vector paths\n");
            w.Append($"    chosen by {plan.Prefetch.ChosenBy}\n");
            w.Append($"  vector path: {string.Join(", ", plan.VectorPaths.Select(Name))} in every kernel\n");
            w.Append("    chosen by the JIT or NativeAOT compiler: the widest the processor accelerates\n");

            w.Append("\nMatMul: y = W·x for rows [rowStart, rowEnd) and any number of tokens\n");
            foreach (MatMulPlan m in plan.MatMuls)
            {
                WriteMatMul(w, m);
            }

            w.Append("\nMatMulQ8Int16: one token, q8 weights, inputs rounded to 16 bits (other paths restore the inputs and run MatMul)\n");
            if (plan.Int16MatMuls.Count == 0)
            {
                w.Append("  none: every width takes the width-generic path\n");
            }

            foreach (MatMulPlan m in plan.Int16MatMuls)
            {
                WriteMatMul(w, m);
            }

            w.Append("\nWkv: value channels per block of vectors held in registers, each block a loop over the 64 key channels\n");
            foreach (WkvPlan p in plan.Wkv)
            {
                w.Append(p.VectorsPerBlock == 0
                    ? $"  {Name(p.Path),-7} one value channel at a time\n"
                    : $"  {Name(p.Path),-7} {p.VectorsPerBlock} vectors ({p.VectorsPerBlock * p.Path.Lanes()} channels) per block, {Plural(p.Blocks, "block")}\n");
            }

            w.Append("\nPer-head element-wise kernels (KeyPrep, HeadOutput): the vectors of a head\n");
            foreach (HeadLoopPlan p in plan.HeadLoops)
            {
                w.Append($"  {Name(p.Path),-7} {p.Vectors} vectors, {(p.WrittenOut ? "written out" : "in a loop")}\n");
            }

            return w.ToString();
        }

        private static void WriteMatMul(StringBuilder w, MatMulPlan m)
        {
            w.Append($"  {m.Type.Name()} × {m.Inputs} inputs: row stride {m.RowStride}{(m.ScalesPerRow > 0 ? $" ({m.Inputs} values, {m.ScalesPerRow} scales)" : "")}\n");
            foreach (MatMulPathPlan p in m.Paths)
            {
                if (p.OneToken is null)
                {
                    w.Append($"    {Name(p.Path),-7} one row and one input at a time\n");
                    continue;
                }

                w.Append($"    {Name(p.Path),-7} {Plural(p.Steps, "step")} of {p.StepInputs} inputs per row{(p.TakesPrefetch ? ", generic over TPrefetch" : "")}\n");
                WriteTiles(w, "one token", p.OneToken);
                if (p.MultiToken is RowTiles multi)
                {
                    WriteTiles(w, $"{multi.Full.Tokens} tokens", multi);
                }
            }
        }

        private static void WriteTiles(StringBuilder w, string label, RowTiles tiles)
        {
            w.Append($"      {label}\n");
            WriteTile(w, tiles.Full);
            WriteTile(w, tiles.Rest);
        }

        private static void WriteTile(StringBuilder w, TilePlan t)
        {
            w.Append($"        {Plural(t.Rows, "row")} × {Plural(t.Tokens, "token")}: {t.Form}, {t.Accumulators}, {Plural(t.Unroll, "step")} × {Plural(t.Iterations, "iteration")}{(t.Alone > 0 ? $" and {Plural(t.Alone, "step")} alone" : "")} per block of {t.Block} inputs, {t.Reduction}");
            if (t.Prefetch is TilePrefetch f)
            {
                w.Append($"; prefetch in tiles of {f.TileBytes} bytes, {Plural(f.LinesPerStep, "line")} per row at step {string.Join(", ", f.RequestingSteps)} of each iteration");
                if (f.ScaleOffsets.Count > 0)
                {
                    w.Append($", scales at +{string.Join(", +", f.ScaleOffsets)}");
                }
            }

            w.Append('\n');
        }

        private static string Name(VectorPath path) => path == VectorPath.Scalar ? "scalar" : path.ToString();

        private static string Plural(int count, string noun) => count == 1 ? $"1 {noun}" : $"{count} {noun}s";
    }
}
