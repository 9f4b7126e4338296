using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator.Model
{
    /// <summary>
    /// Every decision behind one generated model's kernels, made by <c>KernelPlanner</c> from its
    /// <see cref="ShapeSpec"/>: which products exist for which weight types and input widths, and for each vector path
    /// its tiles, unrolling, blocking of inputs, step form, reductions and prefetch. The emitters print it and decide
    /// nothing. Plain values with value equality, so that the pipeline re-emits only when a decision changes.
    /// </summary>
    /// <param name="Shape">The shape the plan is for (names, widths and requested weight types).</param>
    /// <param name="WeightTypes">The weight types with generated products, in the order the code lists them.</param>
    /// <param name="InputWidths">The distinct input widths of the model's matrices, ascending: D, FFN and the LoRA ranks.</param>
    /// <param name="VectorPaths">The paths every kernel has, widest first: the order in which they test for hardware support.</param>
    /// <param name="MatMuls">One product per weight type and input width (type-major, in <paramref name="WeightTypes"/> order).</param>
    /// <param name="Int16MatMuls">The one-token 8-bit products with 16-bit inputs, by input width (empty without q8).</param>
    /// <param name="Wkv">The WKV-7 head update on each vector path, widest first.</param>
    /// <param name="HeadLoops">How the per-head element-wise kernels walk a head of 64 on each vector path, widest first.</param>
    /// <param name="Prefetch">The prefetch policy the weight-streaming kernels are generic over: a choice left to run time.</param>
    internal sealed record KernelPlan(
        ShapeSpec Shape,
        EquatableArray<WeightType> WeightTypes,
        EquatableArray<int> InputWidths,
        EquatableArray<VectorPath> VectorPaths,
        EquatableArray<MatMulPlan> MatMuls,
        EquatableArray<MatMulPlan> Int16MatMuls,
        EquatableArray<WkvPlan> Wkv,
        EquatableArray<HeadLoopPlan> HeadLoops,
        PrefetchVariants Prefetch);

    /// <summary>
    /// A code path of a kernel: a hardware vector width, or plain scalar code. The value is the float lanes per vector.
    /// Which one runs is fixed when the JIT (or the NativeAOT compiler) compiles the kernel: the widest it accelerates.
    /// </summary>
    internal enum VectorPath
    {
        /// <summary>Plain scalar code.</summary>
        Scalar = 1,

        /// <summary><c>Vector128&lt;float&gt;</c>.</summary>
        V128 = 4,

        /// <summary><c>Vector256&lt;float&gt;</c>.</summary>
        V256 = 8,

        /// <summary><c>Vector512&lt;float&gt;</c>.</summary>
        V512 = 16,
    }

    /// <summary>
    /// The products of one weight type at one input width: y = W·x over rows [rowStart, rowEnd) for any number of tokens.
    /// </summary>
    /// <param name="Type">The stored weight type.</param>
    /// <param name="Inputs">Inputs per row, n (a constant in every path).</param>
    /// <param name="RowStride">Elements from one row to the next: n, or for q8 the n values and the 4·n/32 bytes of scales after them.</param>
    /// <param name="ScalesPerRow">fp32 block scales after each row's values (q8), else 0.</param>
    /// <param name="Paths">One per vector path, widest first, in the order the dispatch tests them.</param>
    internal sealed record MatMulPlan(
        WeightType Type,
        int Inputs,
        int RowStride,
        int ScalesPerRow,
        EquatableArray<MatMulPathPlan> Paths);

    /// <summary>One vector path of a product.</summary>
    /// <param name="Path">The vector width.</param>
    /// <param name="StepInputs">Inputs consumed per step of a row: two vectors (lo and hi) on a vector path, one on the scalar path.</param>
    /// <param name="Steps">Steps per row.</param>
    /// <param name="TakesPrefetch">Whether the path is generic over the prefetch policy (it streams weights in row tiles).</param>
    /// <param name="OneToken">Tiles for one token at a time (decode, and the tokens left over by <paramref name="MultiToken"/>); null on the scalar path.</param>
    /// <param name="MultiToken">Tiles for several tokens at once (prefill, batches), while that many remain; null where there are none.</param>
    internal sealed record MatMulPathPlan(
        VectorPath Path,
        int StepInputs,
        int Steps,
        bool TakesPrefetch,
        RowTiles? OneToken,
        RowTiles? MultiToken);

    /// <summary>How a path walks its rows: whole <paramref name="Full"/> tiles while they fit, then <paramref name="Rest"/> (one row at a time).</summary>
    internal sealed record RowTiles(TilePlan Full, TilePlan Rest);

    /// <summary>
    /// One tile: <paramref name="Rows"/> rows × <paramref name="Tokens"/> tokens of accumulators, multiplied over the inputs in
    /// blocks of <paramref name="Block"/>, each block a loop of <paramref name="Iterations"/> iterations of
    /// <paramref name="Unroll"/> steps written out (no loop when there is one iteration).
    /// </summary>
    /// <param name="Rows">Rows per tile.</param>
    /// <param name="Tokens">Tokens per tile.</param>
    /// <param name="Form">What one step does.</param>
    /// <param name="Accumulators">How the partial sums are kept.</param>
    /// <param name="Unroll">Steps written out per loop iteration.</param>
    /// <param name="Iterations">Loop iterations per block of inputs.</param>
    /// <param name="Block">Inputs per block: all of them, or fewer so that a token tile's inputs and a row tile's weights share L1.</param>
    /// <param name="Reduction">How the accumulators are summed into the outputs.</param>
    /// <param name="Prefetch">How the tile requests the rows of a tile further on; null when it does not.</param>
    /// <param name="Alone">Steps after the last iteration, each alone (an odd last block of the 16-bit-input products).</param>
    internal sealed record TilePlan(
        int Rows,
        int Tokens,
        StepForm Form,
        Accumulators Accumulators,
        int Unroll,
        int Iterations,
        int Block,
        Reduction Reduction,
        TilePrefetch? Prefetch,
        int Alone = 0);

    /// <summary>What one step of a tile does for each of its rows.</summary>
    internal enum StepForm
    {
        /// <summary>Two vectors of weights (lo, hi; q8 multiplied by their block's scale), each against every token's matching inputs.</summary>
        WholeSteps,

        /// <summary>One vector of weights at a time (lo, then hi) against every token's inputs: one FMA per accumulator.</summary>
        HalfSteps,

        /// <summary>q8 for one token: the step's dot product (two FMAs) scaled once by its block's scale.</summary>
        ScaledOnce,

        /// <summary>q8 with 16-bit inputs: per block of 32, int8 × int16 multiply-adds summed in integers, then scaled.</summary>
        Int16Blocks,
    }

    /// <summary>How a tile keeps its partial sums.</summary>
    internal enum Accumulators
    {
        /// <summary>One token: two per row (a{k} and b{k}: the lo and hi halves of a step, or even and odd blocks), for more independent chains.</summary>
        TwoPerRow,

        /// <summary>Several tokens: one per row and token (c{k}{m}).</summary>
        OnePerRowAndToken,
    }

    /// <summary>How a tile's accumulators become outputs.</summary>
    internal enum Reduction
    {
        /// <summary>Each row's sum for each token on its own (the scalar path: the accumulator itself).</summary>
        OneByOne,

        /// <summary>512 bits: rows 0–3 of each token per <c>Horizontal.Sums</c> (its shuffles shared), any further rows one by one.</summary>
        FourRowsPerSums,

        /// <summary>512 bits, 6-row tiles over an even number of tokens: rows 0–3 as <see cref="FourRowsPerSums"/>, rows 4–5 of two tokens per <c>Horizontal.Sums</c>.</summary>
        FourRowsThenRowPairs,

        /// <summary>256 bits: rows 0–3 of each token folded to 128 bits and added pairwise (SSE3), any further rows one by one.</summary>
        FourRowsFolded,

        /// <summary>256-bit half-step tiles: one row's four tokens per <c>Horizontal.Sums</c>.</summary>
        FourTokensPerSums,
    }

    /// <summary>
    /// Software prefetch of a tile: each step requests, for every row, the lines it reads in the tile a whole number of
    /// tiles further on (at least the policy's <c>AheadBytes</c>, within the call's rows).
    /// </summary>
    /// <param name="TileElements">Elements of one row tile (rows × row stride): the unit of the distance.</param>
    /// <param name="TileBytes">Bytes of one row tile.</param>
    /// <param name="RequestingSteps">
    /// The steps of each loop iteration (0 to unroll − 1) that make requests: every step, or where a step is shorter than
    /// a cache line, those that begin one (counted from the iteration's start: with fewer steps per iteration than steps
    /// per line, every iteration requests, and consecutive iterations may request the same line).
    /// </param>
    /// <param name="LinesPerStep">Requests per row in a step that makes them: one per 64-byte line it reads.</param>
    /// <param name="ElementsPerLine">Elements per 64-byte line.</param>
    /// <param name="ScaleOffsets">q8: element offsets within a row of the requests covering its block scales (made once per tile), else empty.</param>
    internal sealed record TilePrefetch(
        int TileElements,
        int TileBytes,
        EquatableArray<int> RequestingSteps,
        int LinesPerStep,
        int ElementsPerLine,
        EquatableArray<int> ScaleOffsets);

    /// <summary>The WKV-7 head update on one vector path.</summary>
    /// <param name="Path">The vector width.</param>
    /// <param name="VectorsPerBlock">Vectors of value channels held in registers at once (0 on the scalar path: one channel at a time).</param>
    /// <param name="Blocks">Blocks of value channels per head (a loop when more than one).</param>
    internal sealed record WkvPlan(VectorPath Path, int VectorsPerBlock, int Blocks);

    /// <summary>How the per-head element-wise kernels (key preparation, head output) walk the 64 channels of a head.</summary>
    /// <param name="Path">The vector width.</param>
    /// <param name="Vectors">Vectors per head.</param>
    /// <param name="WrittenOut">Whether they are written out one by one (else a loop).</param>
    internal sealed record HeadLoopPlan(VectorPath Path, int Vectors, bool WrittenOut);

    /// <summary>
    /// A choice the generated code leaves to run time: every kernel that streams weights is generic over a prefetch
    /// policy (a struct implementing <c>Rwkv7.Gen.Specialized.IWeightPrefetch</c>) whose hint and distance are constants
    /// in each instantiation; the engine picks the instantiation when it starts, from the processor's tuning.
    /// </summary>
    /// <param name="ChosenBy">Who picks the instantiation, and from what.</param>
    /// <param name="Kernels">The public kernels generic over it (their vector paths are too, scalar paths aside).</param>
    internal sealed record PrefetchVariants(string ChosenBy, EquatableArray<string> Kernels);
}
