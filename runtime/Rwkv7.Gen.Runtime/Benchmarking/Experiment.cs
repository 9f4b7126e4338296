#if RWKV7_EXPERIMENT
namespace Rwkv7.Gen.Benchmarking;

/// <summary>
/// The switch of an A/B trial of an engine change, compiled only into a trial build
/// (<c>dotnet build -p:RwkvExperiment=true</c>, which defines <c>RWKV7_EXPERIMENT</c>): shipped and tested assemblies
/// do not contain it. Code under trial reads <see cref="Variant"/> inside <c>#if RWKV7_EXPERIMENT</c> (orchestrating
/// code only, never inside a kernel: a static read there changed the JIT's code for the whole method,
/// docs/benchmarks.md, change 18), and <c>rwkv7 bench --ab N --ab-switch variant</c> times N pairs of runs in one
/// process, one run of each pair with the switch off (A) and one with it on (B), in alternating order. Within one
/// process, on a shared machine, such pairs resolve effects of 2–3% that separate invocations cannot (the same
/// binary's decode moved between 200 and 370 tokens/s within minutes).
/// </summary>
internal static class Experiment
{
    /// <summary>Whether the variant (B) under trial runs instead of the current code (A).</summary>
    public static bool Variant { get; set; }
}
#endif
