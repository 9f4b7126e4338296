using System.Linq;
using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Emit
{
    // The parts of a tile that touch its weights: loading one step (or half of one) of a row, its q8 block scales, and
    // the software prefetch requests for the rows a tile further on.
    internal static partial class ModelEmitter
    {
        /// <summary>
        /// Half a step of row k (one vector of weights at <paramref name="at"/>) as one float vector: bf16 widened by a
        /// zero-extending load and a shift (no cross-lane extract), fp32 loaded as it is.
        /// </summary>
        private static void EmitHalfWeight(IndentedWriter w, WeightType type, VectorWidth v, int k, string at, string name) =>
            w.Line(type != WeightType.BF16 ? $"{v.Float} {name} = {v.Load($"w{k}", at)};"
                : v.Lanes == 16 ? $"{v.Float} {name} = Avx512BW.ShiftLeftLogical(Avx512BW.ConvertToVector512UInt32(Vector256.LoadUnsafe(ref w{k}, {at})).AsUInt32(), 16).AsSingle();"
                : $"{v.Float} {name} = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref w{k}, {at})).AsUInt32(), 16).AsSingle();");

        /// <summary>Declares sc{k}, the block scales of row k, which follow its <paramref name="n"/> values.</summary>
        private static void EmitRowScales(IndentedWriter w, int rows, int n)
        {
            for (int k = 0; k < rows; k++)
            {
                w.Line($"ref float sc{k} = ref Unsafe.As<sbyte, float>(ref Unsafe.Add(ref w{k}, {n}));");
            }
        }

        /// <summary>
        /// Loads one step of row k as two float vectors l{k} (inputs off…) and h{k} (offHi…): bf16 widened from one load,
        /// fp32 loaded twice, q8 widened from int8 and multiplied by its block's scale (a step never straddles a block).
        /// </summary>
        private static void EmitWeightStep(IndentedWriter w, WeightType type, VectorWidth v, int k, string off, string offHi, int? constantOffset)
        {
            switch (type)
            {
                case WeightType.BF16:
                    foreach (string line in v.WidenBF16($"w{k}", off, $"l{k}", $"h{k}"))
                    {
                        w.Line(line);
                    }

                    break;
                case WeightType.F32:
                    w.Line($"{v.Float} l{k} = {v.Load($"w{k}", off)}, h{k} = {v.Load($"w{k}", offHi)};");
                    break;
                default:
                    string block = ScaleIndex(off, constantOffset);
                    foreach (string line in v.WidenInt8($"w{k}", off, $"l{k}", $"h{k}"))
                    {
                        w.Line(line);
                    }

                    w.Line($"{v.Float} q{k} = {v.Splat($"Unsafe.Add(ref sc{k}, {block})")};");
                    w.Line($"l{k} *= q{k};");
                    w.Line($"h{k} *= q{k};");
                    break;
            }
        }

        /// <summary>One q8 step of row k for one token: a{k} += scale · (lo·xl + hi·xh).</summary>
        private static void EmitQ8StepScaledOnce(IndentedWriter w, VectorWidth v, int k, string off, int? constantOffset)
        {
            foreach (string line in v.WidenInt8($"w{k}", off, $"l{k}", $"h{k}"))
            {
                w.Line(line);
            }

            string block = ScaleIndex(off, constantOffset);
            w.Line($"a{k} = {v.Fma(v.Fma($"l{k}", "xl", $"h{k} * xh"), v.Splat($"Unsafe.Add(ref sc{k}, {block})"), $"a{k}")};");
        }

        /// <summary>The index of the block scale of the inputs at <paramref name="off"/>, folded when the offset is a constant.</summary>
        private static string ScaleIndex(string off, int? constantOffset) =>
            constantOffset is int c ? VectorWidth.Int(c / ModelMath.Q8BlockSize) : $"({off}) / {ModelMath.Q8BlockSize}";

        /// <summary>
        /// Declares <c>fetch</c>, the distance in elements at which a row tile requests its weights: at least the policy's
        /// <c>AheadBytes</c> ahead, in whole tiles, while those rows are within the call's range, the next tile near the
        /// range's end, nothing in the last tile. Rows past the end belong to another part (another core), and a decode
        /// step's parts of r, k and v are only ~100 rows long, so overshooting them cost ~10%. The JIT folds the tile
        /// count, a constant of the policy type.
        /// </summary>
        private static void EmitFetchDistance(IndentedWriter w, int rows, TilePrefetch prefetch)
        {
            w.Line($"int ahead = Prefetch.TilesAhead({Fetch}.AheadBytes, {prefetch.TileBytes});");
            w.Line($"nuint fetch = r + ((ahead + 1) * {rows}) <= rowEnd ? (nuint)(ahead * {prefetch.TileElements}) : ahead > 1 && r + {2 * rows} <= rowEnd ? {prefetch.TileElements} : 0u;");
        }

        /// <summary>
        /// Requests, for each row of the tile <c>fetch</c> elements further on (<see cref="EmitFetchDistance"/>), the
        /// cache lines this step reads in the current one, with the hint of the kernel's prefetch policy.
        /// </summary>
        private static void EmitPrefetch(IndentedWriter w, int rows, TilePrefetch prefetch, string off)
        {
            w.Open("if (fetch != 0)");
            for (int k = 0; k < rows; k++)
            {
                for (int b = 0; b < prefetch.LinesPerStep; b++)
                {
                    // The same columns, fetch elements further on (see EmitFetchDistance), folded when constant.
                    int line = b * prefetch.ElementsPerLine;
                    string at = int.TryParse(off, out int c) ? (c + line == 0 ? "fetch" : $"{VectorWidth.Int(c + line)} + fetch")
                        : line == 0 ? $"{off} + fetch" : $"{off} + {line} + fetch";
                    w.Line($"{Fetch}.Line(ref w{k}, {at});");
                }
            }

            w.Close();
        }

        /// <summary>Requests the block scales of the rows <c>fetch</c> elements further on, at the plan's offsets within a row.</summary>
        private static void EmitScalesPrefetch(IndentedWriter w, int rows, TilePrefetch prefetch)
        {
            w.Open("if (fetch != 0)");
            for (int k = 0; k < rows; k++)
            {
                foreach (int offset in prefetch.ScaleOffsets)
                {
                    w.Line($"{Fetch}.Line(ref w{k}, fetch + {offset});");
                }
            }

            w.Close();
        }
    }
}
