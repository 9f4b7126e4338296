using System;
using System.Collections.Generic;
using System.Linq;
using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Planning
{
    /// <summary>
    /// The planning stage: turns a <see cref="ShapeSpec"/> into the <see cref="KernelPlan"/> the emitters print. Every
    /// choice of tile, unrolling, blocking, step form, reduction and prefetch is made here, with the measurement behind
    /// it; the emitters only write code for it.
    /// </summary>
    /// <remarks>
    /// Measurements cited as "change N" are in docs/benchmarks.md. They were taken on AMD Zen 5 unless they say
    /// otherwise: what depends on the processor rather than on the shape (the prefetch hint and distance) is not
    /// decided here but left to run time (<see cref="KernelPlan.Prefetch"/>).
    /// </remarks>
    internal static class KernelPlanner
    {
        /// <summary>Rows of W a one-token tile handles together: each x vector loaded is used four times.</summary>
        public const int RowTile = 4;

        /// <summary>Most steps written out inside one iteration of a one-token product's loop.</summary>
        public const int MaxUnroll = 4;

        /// <summary>Tokens per multi-token tile: each weight vector loaded serves four tokens.</summary>
        public const int TokenTile = 4;

        /// <summary>Bytes per cache line, the unit of software prefetch.</summary>
        public const int CacheLine = 64;

        /// <summary>
        /// Bytes of L1 a multi-token tile may fill with one token tile's inputs and its row tile's weights (two thirds of a
        /// 48 KiB L1, leaving room for the outputs and the prefetched next rows).
        /// </summary>
        public const int TileL1Bytes = 32 * 1024;

        /// <summary>Blocks of 32 inputs per iteration of the 16-bit-input 8-bit products (even blocks into a{k}, odd into b{k}).</summary>
        public const int Int16BlocksPerIteration = 2;

        /// <summary>Vectors of value channels the WKV kernel keeps in registers at once.</summary>
        public const int WkvVectorsPerBlock = 4;

        /// <summary>Most vectors of a head the per-head element-wise kernels write out one by one; more are looped over.</summary>
        public const int MaxHeadVectorsWrittenOut = 8;

        /// <summary>The vector paths every kernel has, widest first: the order in which kernels test for hardware support.</summary>
        public static readonly VectorPath[] Paths = { VectorPath.V512, VectorPath.V256, VectorPath.V128, VectorPath.Scalar };

        /// <summary>The paths of the 16-bit-input 8-bit products (x86 integer multiply-adds); elsewhere the inputs are restored to fp32.</summary>
        public static readonly VectorPath[] Int16Paths = { VectorPath.V512, VectorPath.V256 };

        /// <summary>Float lanes of a path (1 for scalar).</summary>
        public static int Lanes(this VectorPath path) => (int)path;

        /// <summary>Plans the kernels of <paramref name="shape"/>.</summary>
        public static KernelPlan Plan(ShapeSpec shape)
        {
            ShapeNumbers numbers = shape.Numbers;
            var types = WeightTypeSet.Listed.Where(t => shape.WeightTypes.Includes(t)).ToArray();
            var widths = new SortedSet<int> { numbers.Embedding, numbers.Ffn, numbers.DecayRank, numbers.IclrRank, numbers.ValueRank, numbers.GateRank }.ToArray();
            var matMuls = new List<MatMulPlan>();
            foreach (WeightType type in types)
            {
                foreach (int n in widths)
                {
                    matMuls.Add(PlanMatMul(type, n));
                }
            }

            // The one-token products of the decode steps, at the embedding (r, k, v, output, FFN key, head, the LoRAs'
            // first factors), FFN (FFN value) and LoRA rank (their second factors) input widths; two blocks per
            // iteration and an odd last block alone, so a width must be a whole number of blocks (as 8-bit rows are).
            // Models without q8 kernels take the runtime's width-generic path (and the LoRAs, fp32 inputs).
            var int16 = new List<MatMulPlan>();
            if (shape.WeightTypes.Includes(WeightType.Q8))
            {
                foreach (int n in widths)
                {
                    if (n % ModelMath.Q8BlockSize == 0)
                    {
                        int16.Add(PlanInt16MatMul(n));
                    }
                }
            }

            return new KernelPlan(
                shape,
                types.ToEquatableArray(),
                widths.ToEquatableArray(),
                Paths.ToEquatableArray(),
                matMuls.ToEquatableArray(),
                int16.ToEquatableArray(),
                Paths.Select(PlanWkv).ToEquatableArray(),
                Paths.Select(PlanHeadLoop).ToEquatableArray(),
                PrefetchPolicy);
        }

        /// <summary>
        /// Every kernel that streams weights is generic over the prefetch policy the engine picked for the processor when
        /// it started: its hint and distance are constants in each instantiation, so a kernel holds no branch and reads no
        /// static for them (change 18).
        /// </summary>
        private static readonly PrefetchVariants PrefetchPolicy = new PrefetchVariants(
            "the engine when it starts, from the processor's tuning (Rwkv7.Gen.CpuTuning.WeightPrefetch): NonTemporalPrefetch or TemporalPrefetch",
            new[] { "MatMul", "FfnHidden", "DecayLora", "IclrLora", "GateLora", "ValueLora", "MatMulQ8Int16" }.ToEquatableArray());

        /// <summary>Bytes per stored weight.</summary>
        private static int ElementBytes(WeightType type) => type == WeightType.F32 ? 4 : type == WeightType.BF16 ? 2 : 1;

        /// <summary>
        /// Q8 rows carry their block scales: each row is its n int8 values followed by its n / 32 fp32 scales
        /// (Rwkv7.Gen.Weights.WeightMatrix.Q8RowStride), so a row's scales arrive in the same stream as its values. With
        /// the scales in a second array, 8-bit decode streamed ~10% slower on one and on two threads than with scales
        /// read from L1 (change 28).
        /// </summary>
        private static int ScalesPerRow(WeightType type, int n) => type == WeightType.Q8 ? n / ModelMath.Q8BlockSize : 0;

        /// <summary>Elements from one row to the next: the values, then (q8) 4 bytes per block scale.</summary>
        private static int RowStride(WeightType type, int n) => n + (ScalesPerRow(type, n) * sizeof(float));

        private static MatMulPlan PlanMatMul(WeightType type, int n) =>
            new MatMulPlan(type, n, RowStride(type, n), ScalesPerRow(type, n), Paths.Select(p => PlanMatMulPath(type, n, p)).ToEquatableArray());

        private static MatMulPathPlan PlanMatMulPath(WeightType type, int n, VectorPath path)
        {
            if (path == VectorPath.Scalar)
            {
                // One row and one input at a time: the path of processors without any accelerated vectors.
                return new MatMulPathPlan(path, 1, n, TakesPrefetch: false, OneToken: null, MultiToken: null);
            }

            // One step consumes 2·lanes inputs as two vectors (lo, hi): a bf16 step is one load widened in two.
            int stepInputs = 2 * path.Lanes();
            int steps = n / stepInputs;
            int unroll = steps % MaxUnroll == 0 ? MaxUnroll : steps % 2 == 0 ? 2 : 1;
            int stride = RowStride(type, n);

            // One token: two accumulators per row; 8-bit steps scale the step's dot product once instead of both weight
            // vectors (three floating-point operations per step instead of four, which matters because 8-bit decode is
            // limited by arithmetic, not memory).
            StepForm oneTokenForm = type == WeightType.Q8 ? StepForm.ScaledOnce : StepForm.WholeSteps;
            var oneToken = new RowTiles(
                Tile(type, n, path, RowTile, 1, oneTokenForm, unroll, n, stride),
                Tile(type, n, path, 1, 1, oneTokenForm, unroll, n, stride));

            // Several tokens: row tiles outer, token tiles inner, so a tile's weights (a few KB) stay in L1 while every
            // token tile uses them, and the block's activations stay in L2; each weight is read from memory once per call.
            // Each such method stays small enough for the JIT to keep every accumulator in a register.
            bool half = HalfSteps(type, path);
            int rows = MultiTokenRows(path, half);
            int block = InputBlock(n, type, rows, TokenTile, stepInputs);
            StepForm form = half ? StepForm.HalfSteps : StepForm.WholeSteps;
            var multiToken = new RowTiles(
                Tile(type, n, path, rows, TokenTile, form, 1, block, stride),
                Tile(type, n, path, 1, TokenTile, form, 1, block, stride));

            return new MatMulPathPlan(path, stepInputs, steps, TakesPrefetch: true, oneToken, multiToken);
        }

        private static TilePlan Tile(WeightType type, int n, VectorPath path, int rows, int tokens, StepForm form, int unroll, int block, int stride)
        {
            int stepInputs = 2 * path.Lanes();
            return new TilePlan(
                rows,
                tokens,
                form,
                tokens == 1 ? Accumulators.TwoPerRow : Accumulators.OnePerRowAndToken,
                unroll,
                block / stepInputs / unroll,
                block,
                ReductionOf(path, rows, tokens, form == StepForm.HalfSteps),
                rows > 1 ? PrefetchOf(type, n, path, rows, stride, unroll) : null);
        }

        /// <summary>
        /// Multi-token bf16 and fp32 tiles on the 512- and 256-bit paths work one half-step (one vector of inputs) at a
        /// time, one FMA per accumulator each. On 512 bits, 6 rows × 4 tokens of accumulators (24), 6 weight vectors and
        /// one input vector fit the 32 registers, and each input vector loaded serves 6 rows instead of 4; those tiles
        /// are bound by loads of the activations (0.1B, one thread, same-run pairs: bf16 prefill +15%, batch of 16 +55%;
        /// fp32 prefill +10%). On 256 bits (16 registers), 3 rows × 4 tokens: 12 accumulators, 3 weight vectors and one
        /// input vector; its 2 × 4 tiles of whole steps chained two FMAs per accumulator and step, 8 chains for two FMA
        /// pipes of 4-cycle latency, which left no slack. 8-bit tiles are bound by converting their weights, which more
        /// rows do not change (measured on 512 bits: equal prefill, batch −3%), so they keep whole steps.
        /// </summary>
        private static bool HalfSteps(WeightType type, VectorPath path) => path is VectorPath.V512 or VectorPath.V256 && type != WeightType.Q8;

        /// <summary>Rows of a multi-token tile: its accumulators (rows × 4 tokens) must fit the width's register file.</summary>
        private static int MultiTokenRows(VectorPath path, bool halfSteps) => path switch
        {
            VectorPath.V512 => halfSteps ? 6 : 4,
            VectorPath.V256 => halfSteps ? 3 : 2,
            _ => 2,
        };

        /// <summary>
        /// Inputs per block of a multi-token product: all n when a token tile's inputs (fp32) and a row tile's weights fit
        /// <see cref="TileL1Bytes"/>, otherwise the largest whole number of steps dividing n that does. Without blocks,
        /// the 0.1B FFN value product (3,072 inputs: 48 KiB of inputs per 4-token tile, 36 KiB of bf16 weights per 6-row
        /// tile) ran at 59% of the FMA peak in prefill while the 768-input products reached 70%.
        /// </summary>
        private static int InputBlock(int n, WeightType type, int rows, int tokens, int stepInputs)
        {
            int bytesPerInput = (tokens * sizeof(float)) + (rows * ElementBytes(type));
            for (int block = n; block >= stepInputs; block -= stepInputs)
            {
                if (n % block == 0 && block * bytesPerInput <= TileL1Bytes)
                {
                    return block;
                }
            }

            return stepInputs;
        }

        /// <summary>
        /// How a tile's sums reach the outputs. 512 bits: four accumulators per <c>Horizontal.Sums</c> call, its shuffles
        /// shared between them; summed one by one instead, a 6-row × 4-token bf16 tile at 768 inputs ran at 182–184
        /// GFLOP/s on one core against 196 (change 25). 256-bit half-step tiles: one row's four tokens per call; one by
        /// one, the 3 × 4 tiles' twelve sums cost about as much as a 128-input row's multiply-adds. The 8-bit 2 × 4 tiles
        /// measured slower with it (a 128-input up-projection 51–53% → 40–41% of the FMA peak) and keep their sums one
        /// by one. Other 256-bit tiles of four rows fold their four sums together (far fewer instructions than four
        /// horizontal sums).
        /// </summary>
        private static Reduction ReductionOf(VectorPath path, int rows, int tokens, bool halfSteps)
        {
            if (path == VectorPath.V512 && rows >= 4)
            {
                return rows == 6 && tokens % 2 == 0 ? Reduction.FourRowsThenRowPairs : Reduction.FourRowsPerSums;
            }

            if (path == VectorPath.V256 && tokens == TokenTile && halfSteps)
            {
                return Reduction.FourTokensPerSums;
            }

            return path == VectorPath.V256 && rows >= 4 ? Reduction.FourRowsFolded : Reduction.OneByOne;
        }

        /// <summary>
        /// Full row tiles request rows further on ahead of use: decode streams weights from memory, and even with several
        /// tokens per weight the hardware prefetcher alone leaves the tiles waiting on memory. Each step requests the
        /// lines it reads, one per 64-byte line (a step shorter than a line leaves it to the step that begins the line);
        /// q8 tiles also request the rows' scales once per tile.
        /// </summary>
        private static TilePrefetch PrefetchOf(WeightType type, int n, VectorPath path, int rows, int stride, int unroll)
        {
            int elementBytes = ElementBytes(type);
            int stepBytes = 2 * path.Lanes() * elementBytes;
            return new TilePrefetch(
                rows * stride,
                rows * stride * elementBytes,
                RequestingSteps(unroll, stepBytes),
                Math.Max(1, stepBytes / CacheLine),
                CacheLine / elementBytes,
                ScaleLines(type, n));
        }

        /// <summary>The steps of an iteration of <paramref name="unroll"/> steps that begin a cache line (all of them for steps of a line or more).</summary>
        private static EquatableArray<int> RequestingSteps(int unroll, int stepBytes) =>
            Enumerable.Range(0, unroll).Where(u => stepBytes >= CacheLine || u * stepBytes % CacheLine == 0).ToEquatableArray();

        /// <summary>
        /// q8: the offsets (from a row's start) of requests covering its 4·n/32 bytes of scales after its n values: one per
        /// 64 bytes and one for the last byte, which covers every line whatever the alignment. Without them the scales
        /// arrive on demand: one thread's 8-bit FFN value step took 1.02–1.14 against 0.91–1.09 ms/token with them
        /// (change 23, when the scales were a separate array).
        /// </summary>
        private static EquatableArray<int> ScaleLines(WeightType type, int n)
        {
            int bytes = ScalesPerRow(type, n) * sizeof(float);
            var offsets = new List<int>();
            for (int b = 0; b < bytes; b += CacheLine)
            {
                offsets.Add(n + b);
            }

            if (bytes > 0 && (bytes - 1) % CacheLine != 0)
            {
                offsets.Add(n + bytes - 1);
            }

            return offsets.ToEquatableArray();
        }

        /// <summary>
        /// The one-token 8-bit product with inputs rounded to 16 bits (Rwkv7.Gen.Specialized.Int16Activations): 4-row
        /// tiles, two blocks of 32 inputs per iteration; per block and row one sign-extension of 32 int8 weights to int16,
        /// <c>vpmaddwd</c> against the block's inputs, one conversion, one multiply by the input scale and one FMA with
        /// the weight scale. Each row's values are requested one line per iteration, its scales once per tile.
        /// </summary>
        private static MatMulPlan PlanInt16MatMul(int n)
        {
            int stride = RowStride(WeightType.Q8, n);
            int steps = n / ModelMath.Q8BlockSize; // a step is one block
            TilePlan Int16Tile(VectorPath path, int rows) => new TilePlan(
                rows,
                1,
                StepForm.Int16Blocks,
                Accumulators.TwoPerRow,
                Int16BlocksPerIteration,
                steps / Int16BlocksPerIteration,
                n,
                rows == 1 ? Reduction.OneByOne : path == VectorPath.V512 ? Reduction.FourRowsPerSums : Reduction.FourRowsFolded,
                rows == 1 ? null : new TilePrefetch(rows * stride, rows * stride, RequestingSteps(Int16BlocksPerIteration, ModelMath.Q8BlockSize), 1, CacheLine, ScaleLines(WeightType.Q8, n)),
                steps % Int16BlocksPerIteration);

            return new MatMulPlan(
                WeightType.Q8,
                n,
                stride,
                ScalesPerRow(WeightType.Q8, n),
                Int16Paths.Select(p => new MatMulPathPlan(p, ModelMath.Q8BlockSize, steps, TakesPrefetch: true, new RowTiles(Int16Tile(p, RowTile), Int16Tile(p, 1)), MultiToken: null))
                    .ToEquatableArray());
        }

        private static WkvPlan PlanWkv(VectorPath path) => path == VectorPath.Scalar
            ? new WkvPlan(path, 0, ModelMath.HeadSize)
            : new WkvPlan(path, WkvVectorsPerBlock, ModelMath.HeadSize / (WkvVectorsPerBlock * path.Lanes()));

        private static HeadLoopPlan PlanHeadLoop(VectorPath path)
        {
            int vectors = ModelMath.HeadSize / path.Lanes();
            return new HeadLoopPlan(path, vectors, vectors <= MaxHeadVectorsWrittenOut);
        }
    }
}
