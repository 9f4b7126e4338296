using System.CommandLine;
using System.Globalization;
using System.Runtime.Intrinsics;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 info --model PATH</c>: what a checkpoint is and which engine runs it; for a GGUF file also its metadata,
/// per-group tensor types, claimed context, tokenizer and chat template (<see cref="GgufSummary"/>).
/// </summary>
internal static class InfoCommand
{
    public static Command Create(CliConsole console)
    {
        var model = new ModelOptions();
        var command = new Command("info", "Say what a checkpoint is and which engine runs it (for a GGUF file also its metadata).");
        model.AddTo(command, vocabulary: true);
        command.SetAction(parse => Run(console, model.Read(parse, console), model.ReadVocabulary(parse, console)));
        return command;
    }

    private static int Run(CliConsole console, ModelRequest request, string? vocabulary)
    {
        using RwkvModel model = ModelOptions.Load(request, console);
        TextWriter output = console.Out;
        ModelShape s = model.Shape;
        CultureInfo c = CultureInfo.InvariantCulture;
        output.WriteLine($"file        {model.Weights.Source}");
        output.WriteLine($"format      {FormatName(model.Weights.Format)}");
        output.WriteLine($"precision   {(model.Weights.MatrixType?.DisplayName() ?? "mixed")} matrices, fp32 vectors, fp32 accumulation");
        output.WriteLine($"shape       {s.Layers} layers, embedding {s.Embedding} ({s.Heads} heads of {s.HeadSize}), vocabulary {s.Vocab}, FFN {s.Ffn}");
        output.WriteLine($"lora ranks  decay {s.DecayRank}, iclr {s.IclrRank}, value {s.ValueRank}, gate {s.GateRank}");
        output.WriteLine(string.Format(c, "parameters  {0:N0} ({1:0.###} B)", s.ParameterCount, s.ParameterCount / 1e9));
        output.WriteLine(string.Format(c, "memory      {0:0.0} MiB of matrices; {1:0.0} MiB read per decoded token", model.Weights.MatrixBytes / 1048576.0, model.Weights.BytesReadPerToken / 1048576.0));
        output.WriteLine(string.Format(c, "state       {0:0.0} KiB per sequence", s.StateFloatsPerLayer * 4.0 * s.Layers / 1024));
        output.WriteLine($"engine      {model.EngineName}, {model.Threads} thread(s)");
        output.WriteLine($"vectors     {VectorWidth()}");
        output.WriteLine($"cpu         {CpuIdentity.Current}");
        if (model.Tuning is { } tuning)
        {
            output.WriteLine($"tuning      {tuning.Describe()}");
            output.WriteLine($"            from {tuning.Origin}");
        }

        if (model.Weights.Gguf is { } gguf)
        {
            GgufSummary.Write(output, gguf, model.Weights, vocabularyGiven: vocabulary is not null);
        }

        return 0;
    }

    /// <summary>The widest SIMD width the kernels will use on this machine, as the generated code selects it.</summary>
    public static string VectorWidth() =>
        Vector512.IsHardwareAccelerated ? "Vector512 (512-bit, 16 floats)"
        : Vector256.IsHardwareAccelerated ? "Vector256 (256-bit, 8 floats)"
        : Vector128.IsHardwareAccelerated ? "Vector128 (128-bit, 4 floats)"
        : "scalar (no hardware vectors)";

    private static string FormatName(CheckpointFormat? format) => format switch
    {
        CheckpointFormat.PyTorch => "PyTorch .pth",
        CheckpointFormat.Safetensors => "safetensors",
        CheckpointFormat.RwkvCpp => "rwkv.cpp .bin",
        CheckpointFormat.Gguf => "GGUF (llama.cpp, ollama)",
        _ => "synthetic",
    };
}
