using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Rwkv7.Gen;

/// <summary>The cache hint with which kernels request the weights they will read next (<see cref="Specialized.IWeightPrefetch"/>).</summary>
public enum PrefetchHint
{
    /// <summary><c>prefetcht0</c>: into every cache level.</summary>
    Temporal,

    /// <summary><c>prefetchnta</c>: into L1, not kept in the outer caches.</summary>
    NonTemporal,
}

/// <summary>Where a <see cref="CpuTuning"/> came from.</summary>
public enum TuningSource
{
    /// <summary>The built-in defaults, for a processor nobody has measured (no calibration has run).</summary>
    Default,

    /// <summary>An entry of <see cref="CpuTuningTable"/>: what was measured on that processor.</summary>
    Table,

    /// <summary>A calibration on this machine timed the candidates and kept the best (<see cref="TuningCalibration"/>).</summary>
    Calibrated,

    /// <summary>Set by the host: <c>RWKV7_PREFETCH</c>, a saved tuning file, or code.</summary>
    Configured,
}

/// <summary>
/// Every choice of the engine that depends on the processor rather than on the model: how kernels prefetch weights,
/// when a step is worth splitting across threads and into how many parts, and whether weights ask for huge pages.
/// The shape is known at compile time and the generator specializes for it; the processor is known only when the
/// engine starts, so these come from <see cref="CpuTuningTable"/> (what was measured on that processor family) or,
/// for a processor the table does not know, from a short calibration on the model's own weights
/// (<see cref="TuningCalibration"/>). None of them changes what the model computes: only how fast.
/// </summary>
/// <remarks>
/// The scheduler's cost model estimates a step's one-thread time from the bytes it streams and the multiply-adds it
/// does, and splits it across threads only when that time is at least <see cref="MinParallelMicroseconds"/> and at
/// least <see cref="MinWorkToMigration"/> times the cost of moving its activations between cores.
/// </remarks>
public sealed record CpuTuning
{
    /// <summary>The hint with which kernels request weights ahead of use.</summary>
    public PrefetchHint WeightPrefetch { get; init; } = PrefetchHint.Temporal;

    /// <summary>Parts per thread in a step split across threads (each thread takes its own first, then helps).</summary>
    public int PartsPerThread { get; init; } = 2;

    /// <summary>A step is split across threads only when one thread would need at least this long for it.</summary>
    public double MinParallelMicroseconds { get; init; } = 20;

    /// <summary>... and when that time is at least this many times the cost of moving the step's activations between cores.</summary>
    public double MinWorkToMigration { get; init; } = 2;

    /// <summary>Weight bytes one core streams per nanosecond from memory (GB/s), for the cost model.</summary>
    public double StreamBytesPerNanosecond { get; init; } = 20;

    /// <summary>Multiply-adds one core's kernels do per nanosecond, for the cost model.</summary>
    public double MultiplyAddsPerNanosecond { get; init; } = 50;

    /// <summary>Bytes of activations per nanosecond that reach a core from another core's cache (GB/s).</summary>
    public double CrossCoreBytesPerNanosecond { get; init; } = 5;

    /// <summary>Elements one core normalizes or mixes per nanosecond in the row-wise steps.</summary>
    public double RowElementsPerNanosecond { get; init; } = 2;

    /// <summary>Nanoseconds of one head-row of the per-head step (one token of one head: WKV, GroupNorm and the rest).</summary>
    public double HeadRowNanoseconds { get; init; } = 300;

    /// <summary>
    /// Most rows of a sequence (prefill) whose 4-bit products read integer inputs on the 512-bit path, each row summed
    /// as a one-token step sums it; longer blocks widen the rows into the generated fp32 tiles. On Zen 5 with 8-bit
    /// inputs (docs/benchmarks.md, change 57) the integer products beat the tiles at every block length: prompts of 48
    /// and 64 tokens 1.13–1.28× on two threads, 1.15–1.30× on one, so every block of a prompt (at most 64 rows) takes
    /// them. (With 16-bit inputs, change 55: 32 tokens 1.04×, 48 0.99×, 64 0.97×.)
    /// </summary>
    public int Int16SequenceTokens512 { get; init; } = 64;

    /// <summary>
    /// <see cref="Int16SequenceTokens512"/> for the 256-bit path, where the 4-bit products take <c>vpdpbusd</c> (AVX-VNNI)
    /// and the fp32 tiles have half the width. On Zen 5 (change 55): 48 tokens 1.46×, 64 1.38× (1.42× on one thread),
    /// so every block of a prompt (at most 64 rows) takes them.
    /// </summary>
    public int Int16SequenceTokens256 { get; init; } = 64;

    /// <summary>
    /// Whether <see cref="Int16SequenceTokens512"/> and <see cref="Int16SequenceTokens256"/> were measured on this
    /// processor (its table entry's evidence, a prompt calibration, or a tuning file that says so). When not, on x86, an
    /// engine with 4-bit matrices times both paths of a prompt's products on its own weights when it starts and keeps
    /// the crossover for the vector width in use (<see cref="TuningCalibration.CalibratePrompts"/>).
    /// </summary>
    public bool PromptPathMeasured { get; init; }

    /// <summary>Whether large weight buffers ask Linux for transparent huge pages.</summary>
    public bool HugePages { get; init; } = true;

    /// <summary>Where this tuning came from.</summary>
    public TuningSource Source { get; init; } = TuningSource.Default;

    /// <summary>For people: the table entry and its evidence, the calibration's result, or the setting that chose it.</summary>
    public string Origin { get; init; } = "built-in defaults: no measurement of this processor";

    /// <summary>The defaults for a processor nobody has measured.</summary>
    public static CpuTuning Default { get; } = new();

    /// <summary>Bytes ahead at which kernels request weights under <see cref="WeightPrefetch"/>.</summary>
    public int PrefetchAheadBytes => WeightPrefetch == PrefetchHint.NonTemporal
        ? Specialized.NonTemporalPrefetch.AheadBytes
        : Specialized.TemporalPrefetch.AheadBytes;

    /// <summary>One line for <c>rwkv7 info</c> and <c>bench</c>: the choices, then where they came from.</summary>
    public string Describe() => string.Create(
        CultureInfo.InvariantCulture,
        $"prefetch {HintName(WeightPrefetch)} {PrefetchAheadBytes / 1024} KiB ahead, {PartsPerThread} parts per thread, split steps of ≥ {MinParallelMicroseconds:0.#} µs, huge pages {(HugePages ? "on" : "off")}, 4-bit prompts of ≤ {Int16SequenceTokens512}/{Int16SequenceTokens256} tokens (512/256-bit) on 8-bit inputs{(PromptPathMeasured ? "" : " (not measured here: a 4-bit model calibrates it)")}");

    /// <summary>The hint's short name as <c>RWKV7_PREFETCH</c> and tuning files write it: <c>t0</c> or <c>nta</c>.</summary>
    public static string HintName(PrefetchHint hint) => hint == PrefetchHint.NonTemporal ? "nta" : "t0";

    /// <summary>Reads a hint name (<c>t0</c> or <c>nta</c>, case-insensitive); null when it is neither.</summary>
    public static PrefetchHint? ParseHint(string text) => text.Trim().ToLowerInvariant() switch
    {
        "nta" or "nontemporal" or "non-temporal" => PrefetchHint.NonTemporal,
        "t0" or "temporal" => PrefetchHint.Temporal,
        _ => null,
    };

    /// <summary>
    /// The tuning for this processor before any calibration: its <see cref="CpuTuningTable"/> entry, else the defaults;
    /// then the environment's settings (<c>RWKV7_PREFETCH=t0|nta</c>, <c>RWKV7_HUGE_PAGES=0</c>) on top.
    /// </summary>
    public static CpuTuning ForThisProcessor() => ForProcessor(CpuIdentity.Current, Environment.GetEnvironmentVariable);

    /// <summary><see cref="ForThisProcessor"/> for a given processor and environment (for tests).</summary>
    public static CpuTuning ForProcessor(CpuIdentity cpu, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(cpu);
        ArgumentNullException.ThrowIfNull(environment);
        CpuTuning tuning = CpuTuningTable.Find(cpu) is { } entry
            ? entry.Tuning with { Source = TuningSource.Table, Origin = $"table entry '{entry.Name}' ({entry.Evidence})" }
            : Default;
        return tuning.WithEnvironment(environment);
    }

    /// <summary>
    /// This tuning with the environment's settings on top: <c>RWKV7_PREFETCH=t0|nta</c> chooses the hint,
    /// <c>RWKV7_HUGE_PAGES=0</c> turns huge pages off.
    /// </summary>
    /// <exception cref="RwkvException"><c>RWKV7_PREFETCH</c> holds something else.</exception>
    public CpuTuning WithEnvironment(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        CpuTuning tuning = this;
        if (environment("RWKV7_PREFETCH") is { Length: > 0 } prefetch)
        {
            PrefetchHint hint = ParseHint(prefetch)
                ?? throw new RwkvException($"RWKV7_PREFETCH is '{prefetch}'; expected t0 or nta.");
            tuning = tuning with { WeightPrefetch = hint, Source = TuningSource.Configured, Origin = $"RWKV7_PREFETCH={prefetch} over {tuning.Origin}" };
        }

        if (environment("RWKV7_HUGE_PAGES") == "0")
        {
            tuning = tuning with { HugePages = false };
        }

        return tuning;
    }

    /// <summary>
    /// Whether the engine should time the candidates on this processor when it starts: an x86 processor without a
    /// table entry or a setting (on arm64 the hints are no-ops and there is nothing to choose), unless
    /// <c>RWKV7_CALIBRATE=0</c>.
    /// </summary>
    public bool WantsCalibration => Source == TuningSource.Default
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86
        && Environment.GetEnvironmentVariable("RWKV7_CALIBRATE") != "0";

    /// <summary>
    /// Whether an engine with 4-bit matrices should time a prompt's two product paths when it starts: on x86 (elsewhere
    /// there are no integer products to choose), when <see cref="PromptPathMeasured"/> is false, unless
    /// <c>RWKV7_CALIBRATE=0</c>.
    /// </summary>
    public bool WantsPromptCalibration => !PromptPathMeasured
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86
        && Environment.GetEnvironmentVariable("RWKV7_CALIBRATE") != "0";

    /// <summary>
    /// The tuning as text, one <c>key = value</c> per line, for a tuning file (<c>rwkv7 tune --save</c>); <see cref="Parse"/>
    /// reads it back. The first line names the processor it was made on.
    /// </summary>
    public string ToText(CpuIdentity cpu)
    {
        ArgumentNullException.ThrowIfNull(cpu);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# rwkv7 tuning for {cpu}\n");
        text.Append(CultureInfo.InvariantCulture, $"# {Source}: {Origin}\n");
        text.Append(CultureInfo.InvariantCulture, $"cpu = {cpu.Key}\n");
        text.Append(CultureInfo.InvariantCulture, $"prefetch = {HintName(WeightPrefetch)}\n");
        text.Append(CultureInfo.InvariantCulture, $"parts_per_thread = {PartsPerThread}\n");
        text.Append(CultureInfo.InvariantCulture, $"min_parallel_us = {MinParallelMicroseconds:R}\n");
        text.Append(CultureInfo.InvariantCulture, $"min_work_to_migration = {MinWorkToMigration:R}\n");
        text.Append(CultureInfo.InvariantCulture, $"stream_bytes_per_ns = {StreamBytesPerNanosecond:R}\n");
        text.Append(CultureInfo.InvariantCulture, $"multiply_adds_per_ns = {MultiplyAddsPerNanosecond:R}\n");
        text.Append(CultureInfo.InvariantCulture, $"cross_core_bytes_per_ns = {CrossCoreBytesPerNanosecond:R}\n");
        text.Append(CultureInfo.InvariantCulture, $"row_elements_per_ns = {RowElementsPerNanosecond:R}\n");
        text.Append(CultureInfo.InvariantCulture, $"head_row_ns = {HeadRowNanoseconds:R}\n");
        text.Append(CultureInfo.InvariantCulture, $"int16_sequence_tokens_512 = {Int16SequenceTokens512}\n");
        text.Append(CultureInfo.InvariantCulture, $"int16_sequence_tokens_256 = {Int16SequenceTokens256}\n");
        text.Append(CultureInfo.InvariantCulture, $"prompt_path_measured = {(PromptPathMeasured ? "yes" : "no")}\n");
        text.Append(CultureInfo.InvariantCulture, $"huge_pages = {(HugePages ? "on" : "off")}\n");
        return text.ToString();
    }

    /// <summary>
    /// Reads a tuning file written by <see cref="ToText"/>. Keys left out keep their defaults; a file made on another
    /// processor (its <c>cpu</c> line differs from <paramref name="cpu"/>'s key) is refused, since its figures describe
    /// that processor.
    /// </summary>
    /// <exception cref="RwkvFormatException">A line is not <c>key = value</c>, a key is unknown, a value is out of range, or the file is for another processor.</exception>
    public static CpuTuning Parse(string text, string fileName, CpuIdentity cpu)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(cpu);
        CpuTuning tuning = Default with { Source = TuningSource.Configured, Origin = $"tuning file {fileName}" };
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            int equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new RwkvFormatException(fileName, $"line {i + 1}: expected 'key = value', found '{line}'");
            }

            string key = line[..equals].Trim(), value = line[(equals + 1)..].Trim();
            tuning = key switch
            {
                "cpu" => value == cpu.Key ? tuning
                    : throw new RwkvFormatException(fileName, $"line {i + 1}: the tuning was made on '{value}', and this processor is '{cpu.Key}'"),
                "prefetch" => tuning with { WeightPrefetch = ParseHint(value) ?? throw new RwkvFormatException(fileName, $"line {i + 1}: prefetch must be t0 or nta, not '{value}'") },
                "parts_per_thread" => tuning with { PartsPerThread = (int)Number(fileName, i, key, value, 1, 16) },
                "min_parallel_us" => tuning with { MinParallelMicroseconds = Number(fileName, i, key, value, 0, 1e6) },
                "min_work_to_migration" => tuning with { MinWorkToMigration = Number(fileName, i, key, value, 0, 1e3) },
                "stream_bytes_per_ns" => tuning with { StreamBytesPerNanosecond = Number(fileName, i, key, value, 1e-3, 1e4) },
                "multiply_adds_per_ns" => tuning with { MultiplyAddsPerNanosecond = Number(fileName, i, key, value, 1e-3, 1e5) },
                "cross_core_bytes_per_ns" => tuning with { CrossCoreBytesPerNanosecond = Number(fileName, i, key, value, 1e-3, 1e4) },
                "row_elements_per_ns" => tuning with { RowElementsPerNanosecond = Number(fileName, i, key, value, 1e-3, 1e4) },
                "head_row_ns" => tuning with { HeadRowNanoseconds = Number(fileName, i, key, value, 1e-3, 1e7) },
                "int16_sequence_tokens_512" => tuning with { Int16SequenceTokens512 = (int)Number(fileName, i, key, value, 0, 64) },
                "int16_sequence_tokens_256" => tuning with { Int16SequenceTokens256 = (int)Number(fileName, i, key, value, 0, 64) },
                "prompt_path_measured" => tuning with
                {
                    PromptPathMeasured = value switch
                    {
                        "yes" => true,
                        "no" => false,
                        _ => throw new RwkvFormatException(fileName, $"line {i + 1}: prompt_path_measured must be yes or no, not '{value}'"),
                    },
                },
                "huge_pages" => tuning with
                {
                    HugePages = value switch
                    {
                        "on" => true,
                        "off" => false,
                        _ => throw new RwkvFormatException(fileName, $"line {i + 1}: huge_pages must be on or off, not '{value}'"),
                    },
                },
                _ => throw new RwkvFormatException(fileName, $"line {i + 1}: unknown key '{key}'"),
            };
        }

        return tuning;
    }

    private static double Number(string fileName, int index, string key, string value, double min, double max)
    {
        bool whole = key is "parts_per_thread" or "int16_sequence_tokens_512" or "int16_sequence_tokens_256";
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) || !(number >= min && number <= max)
            || (whole && number != Math.Floor(number)))
        {
            throw new RwkvFormatException(fileName, string.Create(CultureInfo.InvariantCulture, $"line {index + 1}: {key} must be a number in [{min}, {max}]{(whole ? " (whole)" : "")}, not '{value}'"));
        }

        return number;
    }
}
