using System.Runtime.InteropServices;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Cli.Commands;
using Rwkv7.Cli.Tests.Infrastructure;
using Rwkv7.Gen;

namespace Rwkv7.Cli.Tests.Commands;

/// <summary>The commands around a checkpoint (info, logits, bench) and how the program fails.</summary>
public sealed class ModelCommandTests
{
    /// <summary>bench options that keep a run short: a few tokens, one run, one thread.</summary>
    private static readonly string[] QuickBench = ["--tokens", "2", "--prefill", "4", "--batch", "2", "--runs", "1", "--threads", "1"];

    [Fact]
    public void An_unknown_command_is_a_usage_error()
    {
        CliResult r = TestCli.Run(["frobnicate"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("rwkv7: unknown command 'frobnicate' (see 'rwkv7 --help')", Assert.Single(r.ErrorLines));
    }

    [Fact]
    public void Info_on_the_tiny_fixture_runs_the_CLIs_own_generated_model()
    {
        CliResult r = TestCli.Run(["info", "--model", Paths.TinyModel]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("engine      generated Rwkv7.Cli.Models.TinyModel", r.Out, StringComparison.Ordinal);
        Assert.Contains("shape       12 layers, embedding 64 (1 heads of 64), vocabulary 256, FFN 256", r.Out, StringComparison.Ordinal);
        Assert.Contains("vectors     Vector", r.Out, StringComparison.Ordinal);
        Assert.Contains($"cpu         {CpuIdentity.Current}", r.Out, StringComparison.Ordinal);
        Assert.Matches(@"tuning      prefetch (t0|nta) 4 KiB ahead, \d+ parts per thread", r.Out);
    }

    [Fact]
    public void Tune_calibrates_on_the_models_weights_and_saves_a_file_the_other_commands_read()
    {
        using var temp = new TempFolder();
        string file = temp.File("tuning.txt");
        CliResult r = TestCli.Run(["tune", "--shape", "tiny", "--out", file]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains($"cpu          {CpuIdentity.Current}", r.Out, StringComparison.Ordinal);
        Assert.Matches(@"calibration  one thread, one-token products over 73 matrices", r.Out);
        Assert.Matches(@"  prefetch t0 +median +\d+\.\d GB/s   rounds: \d", r.Out);
        Assert.Matches(@"  prefetch nta +median +\d+\.\d GB/s   rounds: \d", r.Out);
        Assert.Contains("prompts      not calibrated: the model has no 4-bit FFN matrices (--precision q4 quantizes them)", r.Out, StringComparison.Ordinal);
        Assert.Contains($"saved        {file}", r.Out, StringComparison.Ordinal);

        CpuTuning saved = CpuTuning.Parse(File.ReadAllText(file), file, CpuIdentity.Current);
        Assert.Equal(TuningSource.Configured, saved.Source);

        // RWKV7_TUNING points the other commands at it; a file that is not there is an error, not a silent default.
        TuningCalibration.ProcessTuning = null;
        try
        {
            CliResult info = TestCli.Run(["info", "--model", Paths.TinyModel], stdin: (byte[]?)null, new Dictionary<string, string> { ["RWKV7_TUNING"] = file });
            Assert.True(info.ExitCode == 0, info.ToString());
            Assert.Contains($"            from tuning file {file}", info.Out, StringComparison.Ordinal);

            CliResult missing = TestCli.Run(["info", "--model", Paths.TinyModel], stdin: (byte[]?)null, new Dictionary<string, string> { ["RWKV7_TUNING"] = temp.File("absent.txt") });
            Assert.Equal(1, missing.ExitCode);
            Assert.Contains("RWKV7_TUNING names", Assert.Single(missing.ErrorLines), StringComparison.Ordinal);
        }
        finally
        {
            TuningCalibration.ProcessTuning = null;
        }

        CliResult both = TestCli.Run(["tune", "--shape", "tiny", "--save", "--out", file]);
        Assert.Equal(2, both.ExitCode);
    }

    [Fact]
    public void Tune_calibrates_the_4_bit_prompt_path_of_4_bit_weights()
    {
        CliResult r = TestCli.Run(["tune", "--shape", "tiny", "--precision", "q4"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        if (r.Out.Contains("prompts      not calibrated", StringComparison.Ordinal))
        {
            // The 128-bit and scalar paths have no integer 4-bit products to choose.
            Assert.Contains("prompts      not calibrated: this processor's vectors have no 4-bit integer products", r.Out, StringComparison.Ordinal);
            return;
        }

        Assert.Matches(@"prompts      one thread, a prompt block's 4-bit FFN products at (512|256) bits", r.Out);
        Assert.Matches(@"\n  64 rows  integer +\d+\.\d\d ms, widened +\d+\.\d\d ms: integer \d+\.\d\dx   rounds \(integer/widened ms\): \d", r.Out);
        Assert.Matches(@"chosen       .*4-bit prompts of ≤ \d+/\d+ tokens", r.Out);
    }

    [Fact]
    public void The_model_may_come_from_RWKV7_MODEL()
    {
        CliResult r = TestCli.Run(["info", "--engine", "reference"], stdin: (byte[]?)null, new Dictionary<string, string> { ["RWKV7_MODEL"] = Paths.TinyModel });
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("engine      reference", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Logits_reproduce_rwkv_cpps_expected_values()
    {
        using var temp = new TempFolder();
        string output = temp.File("logits.f32");
        CliResult r = TestCli.Run(["logits", "--model", Paths.TinyModel, "--tokens", "34,105,110", "--out", output]);
        Assert.True(r.ExitCode == 0, r.ToString());
        float[] actual = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(output)).ToArray();
        float[] expected = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Paths.TinyExpectedLogits)).ToArray();
        Assert.Equal(expected.Length, actual.Length);
        Assert.All(expected.Zip(actual), p => Assert.InRange(Math.Abs(p.First - p.Second), 0, 1e-4));
    }

    [Fact]
    public void Bench_resolves_the_tiny_shape_by_name()
    {
        CliResult r = TestCli.Run(["bench", "--shape", "tiny", .. QuickBench]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("engine       generated Rwkv7.Cli.Models.TinyModel", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_packs_a_models_matrices_as_the_other_commands_do()
    {
        // The rwkv.cpp FP16 file holds bf16 values: kept (the default) it runs as bf16, on the generated kernels;
        // --precision fp16 keeps fp16, q4 quantizes to 4 bits, and an unknown name is a usage error that lists the
        // accepted ones.
        string fp16 = Paths.Fixture("tiny-7v0-834K/tiny-rwkv-7v0-834K-FP16.bin");
        CliResult kept = TestCli.Run(["bench", "--model", fp16, .. QuickBench]);
        Assert.True(kept.ExitCode == 0, kept.ToString());
        Assert.Contains("precision    bf16 weights", kept.Out, StringComparison.Ordinal);

        CliResult asked = TestCli.Run(["bench", "--model", fp16, "--precision", "fp16", .. QuickBench]);
        Assert.True(asked.ExitCode == 0, asked.ToString());
        Assert.Contains("precision    fp16 weights", asked.Out, StringComparison.Ordinal);

        CliResult q4 = TestCli.Run(["bench", "--model", fp16, "--precision", "q4", .. QuickBench]);
        Assert.True(q4.ExitCode == 0, q4.ToString());
        Assert.Contains("precision    q4 weights", q4.Out, StringComparison.Ordinal);

        CliResult wrong = TestCli.Run(["bench", "--model", fp16, "--precision", "int4", .. QuickBench]);
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("--precision must be keep, bf16, fp16, fp32, q8 or q4, not 'int4'", wrong.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_ab_times_pairs_of_runs_with_the_prefetch_hint_switched()
    {
        CliResult r = TestCli.Run(["bench", "--shape", "tiny", "--tokens", "2", "--prefill", "4", "--batch", "2", "--threads", "1", "--ab", "3"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("A/B over 3 pairs (A: prefetch t0, B: prefetch nta)", r.Out, StringComparison.Ordinal);
        foreach (string phase in new[] { "decode", "prefill", "batch of 2" })
        {
            string line = Assert.Single(r.Out.Split('\n'), l => l.StartsWith(phase + " ", StringComparison.Ordinal));
            var m = System.Text.RegularExpressions.Regex.Match(line, @"A (\S+) tokens/s, B (\S+) tokens/s \(medians\); B/A (\S+) \(median of pairs\), B won ([0-3]) of 3 pairs");
            Assert.True(m.Success, line);
            Assert.All(new[] { 1, 2, 3 }, g => Assert.True(double.Parse(m.Groups[g].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, line));
        }

        // The trial switch exists only in a build with -p:RwkvExperiment=true; this one refuses it by name.
        CliResult variant = TestCli.Run(["bench", "--shape", "tiny", "--ab", "2", "--ab-switch", "variant"]);
        Assert.Equal(2, variant.ExitCode);
        Assert.Contains("--ab-switch: expected prefetch, split=MICROSECONDS, parts=N or prompts=N; got 'variant'", variant.Error, StringComparison.Ordinal);

        CliResult reference = TestCli.Run(["bench", "--shape", "tiny", "--engine", "reference", "--ab", "2"]);
        Assert.Equal(2, reference.ExitCode);
        Assert.Contains("--ab-switch prefetch needs a generated engine", reference.Error, StringComparison.Ordinal);

        CliResult both = TestCli.Run(["bench", "--shape", "tiny", "--ab", "3", "--json"]);
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("--ab cannot be combined with --json, --profile or --context", both.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("split=20", "A: split steps of ≥ ", ", B: ≥ 20 µs)")]
    [InlineData("parts=3", "A: ", " parts per thread, B: 3)")]
    [InlineData("prompts=0", "A: 4-bit prompts of ≤ ", " rows (512/256-bit) on integer products, B: ≤ 0 rows)")]
    public void Bench_ab_switches_any_choice_of_the_tuning(string choice, string a, string b)
    {
        CliResult r = TestCli.Run(["bench", "--shape", "tiny", "--precision", "q4", "--tokens", "2", "--prefill", "8", "--batch", "2", "--ab", "1", "--ab-switch", choice]);
        Assert.True(r.ExitCode == 0, r.ToString());
        string header = Assert.Single(r.Out.Split('\n'), l => l.Contains("A/B over 1 pairs (", StringComparison.Ordinal));
        Assert.Contains(a, header, StringComparison.Ordinal);
        Assert.EndsWith(b, header.TrimEnd(), StringComparison.Ordinal);
        Assert.Single(r.Out.Split('\n'), l => l.StartsWith("prefill ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("split", "--ab-switch: expected prefetch, split=MICROSECONDS, parts=N or prompts=N; got 'split'")]
    [InlineData("prefetch=nta", "--ab-switch: expected prefetch, split=MICROSECONDS, parts=N or prompts=N; got 'prefetch=nta'")]
    [InlineData("threads=2", "--ab-switch: expected prefetch, split=MICROSECONDS, parts=N or prompts=N; got 'threads=2'")]
    [InlineData("split=fast", "--ab-switch split=fast: the value must be a number in [0, 1000000]")]
    [InlineData("parts=0", "--ab-switch parts=0: the value must be a whole number in [1, 16]")]
    [InlineData("prompts=65", "--ab-switch prompts=65: the value must be a whole number in [0, 64]")]
    [InlineData("prompts=8.5", "--ab-switch prompts=8.5: the value must be a whole number in [0, 64]")]
    public void Bench_ab_refuses_a_switch_it_does_not_have_by_name(string choice, string message)
    {
        CliResult r = TestCli.Run(["bench", "--shape", "tiny", "--ab", "1", "--ab-switch", choice]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_can_time_one_thread_by_its_CPU_time()
    {
        CliResult r = TestCli.Run(["bench", "--shape", "tiny", .. QuickBench, "--clock", "cpu", "--json"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = System.Text.Json.JsonDocument.Parse(r.Out);
        Assert.Equal("cpu", doc.RootElement.GetProperty("clock").GetString());
        Assert.True(doc.RootElement.GetProperty("prefill_tokens_per_s").GetDouble() > 0);
        Assert.True(doc.RootElement.GetProperty("fma_flops_per_s_1_thread").GetDouble() > 0);

        CliResult two = TestCli.Run(["bench", "--shape", "tiny", "--tokens", "2", "--runs", "1", "--threads", "2", "--clock", "cpu"]);
        Assert.Equal(2, two.ExitCode);
        Assert.Contains(Environment.ProcessorCount > 1 ? "--clock cpu times the calling thread: add --threads 1" : "--clock", two.Error, StringComparison.Ordinal);

        CliResult wrong = TestCli.Run(["bench", "--shape", "tiny", "--clock", "tsc"]);
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("--clock must be wall or cpu, not 'tsc'", wrong.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_profile_breaks_each_phase_down_by_step()
    {
        CliResult r = TestCli.Run(["bench", "--shape", "tiny", .. QuickBench, "--profile"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (string phase in new[] { "decode", "prefill", "batch of 2" })
        {
            Assert.Contains($"profile      {phase}, 1 thread(s): ", r.Out, StringComparison.Ordinal);
        }

        string[] projections = [.. r.Out.Split('\n').Where(l => l.TrimStart().StartsWith("projections", StringComparison.Ordinal))];
        Assert.Equal(3, projections.Length);
        Assert.All(projections, l => Assert.Contains("GB/s of weights", l, StringComparison.Ordinal));
        Assert.Contains("outside steps", r.Out, StringComparison.Ordinal);

        CliResult json = TestCli.Run(["bench", "--shape", "tiny", .. QuickBench, "--profile", "--json"]);
        Assert.True(json.ExitCode == 0, json.ToString());
        using var doc = System.Text.Json.JsonDocument.Parse(json.Out);
        System.Text.Json.JsonElement decode = doc.RootElement.GetProperty("profile").GetProperty("decode");
        Assert.True(decode.GetProperty("ms_per_token").GetDouble() > 0);
        System.Text.Json.JsonElement head = decode.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("step").GetString() == "head (logits)");
        Assert.Equal(1.0, head.GetProperty("calls_per_token").GetDouble());
    }

    [Fact]
    public void A_missing_file_fails_with_one_line_and_no_stack_trace()
    {
        CliResult r = TestCli.Run(["info", "--model", "/no/such/model.pth"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("rwkv7: error: no model file at '/no/such/model.pth'", Assert.Single(r.ErrorLines));

        CliResult verbose = TestCli.Run(["info", "--model", "/no/such/model.pth", "--verbose"]);
        Assert.Equal(1, verbose.ExitCode);
        Assert.Contains("   at ", verbose.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_corrupt_checkpoint_fails_with_one_readable_line()
    {
        using var temp = new TempFolder();
        string path = temp.File("broken.pth");
        byte[] bytes = File.ReadAllBytes(Paths.Fixture("tiny-7v0-834K/tiny-rwkv-7v0-834K-bf16.pth"));
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        CliResult r = TestCli.Run(["generate", "--model", path, "hello"]);
        Assert.Equal(1, r.ExitCode);
        string line = Assert.Single(r.ErrorLines);
        Assert.StartsWith("rwkv7: error: ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", line, StringComparison.Ordinal);
        Assert.Contains("broken.pth", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_given_as_the_model_is_reported_as_such()
    {
        using var temp = new TempFolder();
        CliResult r = TestCli.Run(["info", "--model", temp.FullPath]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is a folder", Assert.Single(r.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public void The_World_vocabulary_is_looked_for_in_order_given_then_beside_the_model()
    {
        ModelShape world = new(Layers: 1, Embedding: 64, HeadSize: 64, Vocab: 65536, Ffn: 256, DecayRank: 32, IclrRank: 32, ValueRank: 32, GateRank: 32);
        ModelShape bytes = world with { Vocab = 256 };
        using var temp = new TempFolder();
        string model = temp.File("model.pth");
        string given = temp.File("my-vocab.txt");
        File.WriteAllText(given, "");

        Assert.Null(ModelOptions.ResolveVocabularyPath(bytes, model, given));
        Assert.Equal(given, ModelOptions.ResolveVocabularyPath(world, model, given));
        Assert.Throws<FileNotFoundException>(() => ModelOptions.ResolveVocabularyPath(world, model, temp.File("absent.txt")));
        UsageException none = Assert.Throws<UsageException>(() => ModelOptions.ResolveVocabularyPath(world, model, null));
        Assert.Contains("RWKV7_VOCAB", none.Message, StringComparison.Ordinal);

        string beside = temp.File("rwkv_vocab_v20230424.txt");
        File.WriteAllText(beside, "");
        Assert.Equal(beside, ModelOptions.ResolveVocabularyPath(world, model, null));
    }
}
