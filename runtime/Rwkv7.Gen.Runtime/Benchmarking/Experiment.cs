namespace Rwkv7.Gen.Benchmarking;

/// <summary>
/// The switch of an A/B trial of an engine change. Code under trial reads <see cref="Variant"/> (orchestrating code
/// only, never inside a kernel: a static read there changed the JIT's code for the whole method, docs/benchmarks.md,
/// change 18), and <c>rwkv7 bench --ab N</c> times N pairs of runs in one process, one run of each pair with the
/// switch off (A) and one with it on (B), in alternating order. Within one process, on a shared machine, such pairs
/// resolve effects of 2–3% that separate invocations cannot (the same binary's decode moved between 200 and 370
/// tokens/s within minutes). Shipped code reads the switch nowhere.
/// </summary>
public static class Experiment
{
    /// <summary>Whether the variant (B) under trial runs instead of the current code (A).</summary>
    public static bool Variant { get; set; }
}
