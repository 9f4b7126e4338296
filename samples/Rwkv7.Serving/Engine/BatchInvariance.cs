namespace Rwkv7.Serving.Engine;

/// <summary>
/// How the scheduler keeps a request's arithmetic independent of the batch it runs in, with the engine as it is.
/// </summary>
/// <remarks>
/// <para>The generated products take two paths (docs/serving.md, "Batch invariance"): one-token tiles, which keep two
/// accumulators per row (the low and high half of each step) and add them at the end, and rounds 8- and 4-bit
/// products' inputs to 16 bits; and multi-token tiles of <see cref="TileTokens"/> tokens, one fp32 accumulator per
/// row and token. A batch of B sessions runs its first B − B mod 4 rows on the tiles and the rest one by one, so the
/// same session gets different bits as a batch grows or shrinks (and alone, on <c>Forward</c>).</para>
/// <para>Padded to a whole number of tiles (at least one), every row of every decode step takes the multi-token path, whose
/// sums do not depend on the tile's other rows: the text of a seeded request is then the same alone and in any batch.
/// It costs the padding rows' work: up to three rows per step, nothing at 4, 8, 16, … sessions. An engine whose
/// batch rows equal its one-token steps (<see cref="Gen.RwkvModel.BatchRowsMatchForward"/>: 4-bit weights, whose
/// batches sum every row as <c>Forward</c> does) is not padded.</para>
/// </remarks>
internal static class BatchInvariance
{
    /// <summary>Tokens per multi-token tile in the generated products, on every vector width.</summary>
    public const int TileTokens = 4;

    /// <summary>Rows to run for <paramref name="sessions"/> sessions: the next multiple of <see cref="TileTokens"/>.</summary>
    public static int PaddedRows(int sessions) => (sessions + TileTokens - 1) / TileTokens * TileTokens;
}
