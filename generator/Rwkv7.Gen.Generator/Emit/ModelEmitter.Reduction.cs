using System.Linq;
using Rwkv7.Gen.Generator.Model;

namespace Rwkv7.Gen.Generator.Emit
{
    // How a tile's accumulators become its outputs, as its plan's Reduction says.
    internal static partial class ModelEmitter
    {
        /// <summary>Writes the tile's sums into its outputs as its plan's <see cref="TilePlan.Reduction"/> says.</summary>
        private static void EmitReduction(IndentedWriter w, VectorWidth v, TilePlan tile, string accumulate)
        {
            int rows = tile.Rows, tokens = tile.Tokens;
            bool split = tile.Accumulators == Accumulators.TwoPerRow;
            switch (tile.Reduction)
            {
                case Reduction.FourRowsPerSums:
                case Reduction.FourRowsThenRowPairs:
                    EmitReduce512(w, v, rows, tokens, split, accumulate, tile.Reduction == Reduction.FourRowsThenRowPairs);
                    return;
                case Reduction.FourTokensPerSums:
                    EmitReduceTokens256(w, rows, tokens, accumulate);
                    return;
            }

            for (int t = 0; t < tokens; t++)
            {
                int reduced = 0;
                if (tile.Reduction == Reduction.FourRowsFolded)
                {
                    EmitReduceFour(w, t, tokens, split, accumulate);
                    reduced = 4;
                }

                EmitReduceRows(w, v, reduced, rows, t, tokens, split, accumulate);
            }
        }

        /// <summary>Sums rows [<paramref name="first"/>, <paramref name="rows"/>) of token m one at a time.</summary>
        private static void EmitReduceRows(IndentedWriter w, VectorWidth v, int first, int rows, int m, int tokens, bool split, string accumulate)
        {
            for (int k = first; k < rows; k++)
            {
                string target = k == 0 ? "r" : $"r + {k}";
                string name = tokens == 1 ? $"o{k}" : $"o{k}{m}";
                string sum = v.Sum(AccValue(k, m, tokens, split));
                w.Line($"ref float {name} = ref Unsafe.Add(ref yt{m}, {target});");
                w.Line($"{name} = {accumulate} ? {name} + {sum} : {sum};");
            }
        }

        /// <summary>
        /// The 512-bit path's sums, four accumulators per <c>Horizontal.Sums</c> call (its shuffles shared between them):
        /// rows 0–3 of each token, stored as one 4-float vector; with <paramref name="rowPairs"/> (6-row tiles), rows 4
        /// and 5 of two tokens at a time, else any further rows one by one.
        /// </summary>
        private static void EmitReduce512(IndentedWriter w, VectorWidth v, int rows, int tokens, bool split, string accumulate, bool rowPairs)
        {
            w.Line("// the tile's sums, four accumulators per Horizontal.Sums (its shuffles shared between them)");
            for (int m = 0; m < tokens; m++)
            {
                string sums = string.Join(", ", Enumerable.Range(0, 4).Select(k => AccValue(k, m, tokens, split)));
                w.Line($"Horizontal.Store(Horizontal.Sums({sums}), ref Unsafe.Add(ref yt{m}, r), {accumulate});");
            }

            if (rowPairs)
            {
                for (int m = 0; m < tokens; m += 2)
                {
                    string last = $"last{m}";
                    w.Line($"Vector128<float> {last} = Horizontal.Sums({AccValue(4, m, tokens, split)}, {AccValue(5, m, tokens, split)}, {AccValue(4, m + 1, tokens, split)}, {AccValue(5, m + 1, tokens, split)});");
                    w.Line($"Horizontal.StorePair({last}, 0, ref Unsafe.Add(ref yt{m}, r + 4), {accumulate});");
                    w.Line($"Horizontal.StorePair({last}, 1, ref Unsafe.Add(ref yt{m + 1}, r + 4), {accumulate});");
                }

                return;
            }

            for (int m = 0; m < tokens; m++)
            {
                EmitReduceRows(w, v, 4, rows, m, tokens, split, accumulate);
            }
        }

        /// <summary>
        /// The 256-bit multi-token tiles' sums, one row's four tokens per <c>Horizontal.Sums</c> call (its folds and
        /// pairwise adds shared between them), each sum then written to its token's output.
        /// </summary>
        private static void EmitReduceTokens256(IndentedWriter w, int rows, int tokens, string accumulate)
        {
            w.Line("// the tile's sums, one row's four tokens per Horizontal.Sums");
            for (int k = 0; k < rows; k++)
            {
                string sums = $"s{k}";
                w.Line($"Vector128<float> {sums} = Horizontal.Sums({string.Join(", ", Enumerable.Range(0, tokens).Select(m => Acc(k, m, tokens)))});");
                for (int m = 0; m < tokens; m++)
                {
                    string target = k == 0 ? "r" : $"r + {k}";
                    string name = $"o{k}{m}";
                    w.Line($"ref float {name} = ref Unsafe.Add(ref yt{m}, {target});");
                    w.Line($"{name} = {accumulate} ? {name} + {sums}.GetElement({m}) : {sums}.GetElement({m});");
                }
            }
        }

        /// <summary>Row k's accumulated sum for token m as an expression: one accumulator, or the lo and hi pair of one token.</summary>
        private static string AccValue(int k, int m, int tokens, bool split) => split ? $"{Acc(k, m, tokens)} + b{k}" : Acc(k, m, tokens);

        /// <summary>
        /// Reduces the four row accumulators of token m to the four outputs y[r..r+3] together on the 256-bit path: fold
        /// each vector to 128 bits, then two levels of pairwise horizontal adds, and one 4-float store. The 256-bit path
        /// runs on x86 only (SSE3 is implied).
        /// </summary>
        private static void EmitReduceFour(IndentedWriter w, int m, int tokens, bool split, string accumulate)
        {
            string suffix = tokens == 1 ? "" : m.ToString(System.Globalization.CultureInfo.InvariantCulture);
            for (int k = 0; k < 4; k++)
            {
                string acc = split ? $"({Acc(k, m, tokens)} + b{k})" : Acc(k, m, tokens);
                w.Line($"Vector128<float> g{k}{suffix} = {acc}.GetLower() + {acc}.GetUpper();");
            }

            w.Line($"Vector128<float> sums{suffix} = Sse3.HorizontalAdd(Sse3.HorizontalAdd(g0{suffix}, g1{suffix}), Sse3.HorizontalAdd(g2{suffix}, g3{suffix}));");
            w.Line($"Horizontal.Store(sums{suffix}, ref Unsafe.Add(ref yt{m}, r), {accumulate});");
        }

        /// <summary>Accumulator of row k and token m: a{k} for one token, c{k}{m} for several.</summary>
        private static string Acc(int k, int m, int tokens) => tokens == 1 ? $"a{k}" : $"c{k}{m}";
    }
}
