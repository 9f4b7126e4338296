using System.Diagnostics;
using System.Globalization;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using Rwkv7.Gen;
using Rwkv7.Gen.Gpu;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

// rwkv7-gpu: decode and prefill throughput of the GPU path, and a correctness check against the CPU engine.
//
//   rwkv7-gpu (--model PATH | --synthetic NAME) [--device cuda|cpu] [--batch B] [--tokens N] [--prefill T]
//             [--bandwidth GB/s] [--check N]
//
// --synthetic NAME uses deterministic random bf16 weights of a shape file's size (e.g. rwkv7-0.1b, rwkv7-1.5b): the
// speed is that of a real checkpoint of that size, without the file. --check N compares N decoded tokens' logits with
// the CPU engine (the generated CPU model, else the reference) and fails above 1e-4 × row std.
try
{
    return Run(Options.Parse(args));
}
catch (Exception e) when (e is ArgumentException or RwkvException or NotSupportedException or FileNotFoundException)
{
    Console.Error.WriteLine("error: " + e.Message);
    Console.Error.WriteLine(Options.Usage);
    return 2;
}

static int Run(Options o)
{
    using RwkvWeights weights = o.Synthetic is { } name
        ? RwkvWeights.CreateSynthetic(
            (GeneratedModelRegistry.FindByName(name) ?? throw new ArgumentException($"No shape named '{name}' is compiled into this program.")).Shape,
            TensorDType.BF16)
        : RwkvWeights.Load(o.Model!);
    using Context context = o.Device == "cuda"
        ? Context.Create(b => b.Cuda())
        : Context.Create(b => b.CPU(new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 2, numMultiprocessors: 1)));
    using Accelerator accelerator = o.Device == "cuda"
        ? (context.GetCudaDevices().Count > 0 ? context.CreateCudaAccelerator(0) : throw new NotSupportedException("No CUDA device found."))
        : context.CreateCPUAccelerator(0);

    Console.WriteLine($"weights   {weights.Source}: {weights.Shape}, {weights.BytesReadPerToken / 1e6:F1} MB read per decoded token");
    Console.WriteLine($"device    {accelerator.Name} ({accelerator.AcceleratorType}), {accelerator.MemorySize / (1 << 20)} MiB");
    var sw = Stopwatch.StartNew();
    using GpuRwkvModel model = GpuRwkvModel.Create(weights, accelerator, new GpuModelOptions { MaxRows = Math.Max(64, o.Batch) });
    Console.WriteLine($"kernels   {model.KernelTypeName}, {model.Format}, profile {model.Profile}, ready in {sw.Elapsed.TotalSeconds:F1} s");

    int failures = o.Check > 0 ? Check(model, weights, o.Check) : 0;
    Decode(model, weights, o);
    Prefill(model, weights, o);
    return failures == 0 ? 0 : 1;
}

static void Decode(GpuRwkvModel model, RwkvWeights weights, Options o)
{
    using GpuState state = model.CreateState(o.Batch);
    int[] first = Enumerable.Range(0, o.Batch).Select(b => (b * 7919) % model.Shape.Vocab).ToArray();
    int[] generated = new int[o.Tokens * o.Batch];
    model.DecodeGreedy(first, state, generated.AsSpan(0, Math.Min(2, o.Tokens) * o.Batch)); // warm-up (compiles, caches)
    state.Reset();
    var sw = Stopwatch.StartNew();
    model.DecodeGreedy(first, state, generated);
    double seconds = sw.Elapsed.TotalSeconds;
    double tokensPerSecond = o.Tokens * o.Batch / seconds;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"decode    batch {o.Batch}, {o.Tokens} steps: {tokensPerSecond:F1} tokens/s ({seconds * 1e3 / o.Tokens:F2} ms per step){Floor(o, weights, o.Batch / (seconds / o.Tokens))}"));
}

static void Prefill(GpuRwkvModel model, RwkvWeights weights, Options o)
{
    if (o.Prefill == 0)
    {
        return;
    }

    int[] tokens = Enumerable.Range(0, o.Prefill).Select(t => (t * 104729) % model.Shape.Vocab).ToArray();
    using GpuState state = model.CreateState();
    float[] logits = new float[model.Shape.Vocab];
    model.Forward(tokens.AsSpan(0, Math.Min(8, tokens.Length)), state, logits); // warm-up
    state.Reset();
    var sw = Stopwatch.StartNew();
    model.Forward(tokens, state, logits);
    double seconds = sw.Elapsed.TotalSeconds;
    double flops = 2.0 * (weights.BytesReadPerToken / (double)(weights.MatrixType == TensorDType.F32 ? 4 : 2)) * o.Prefill;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"prefill   {o.Prefill} tokens: {o.Prefill / seconds:F1} tokens/s, {flops / seconds / 1e12:F2} TFLOP/s of matrix work"));
}

static string Floor(Options o, RwkvWeights weights, double stepsPerSecond)
{
    if (o.Bandwidth <= 0)
    {
        return "";
    }

    // Each step must read every weight at least once: floor = bytes per token ÷ bandwidth, whatever the batch.
    double floorSteps = o.Bandwidth * 1e9 / weights.BytesReadPerToken;
    return string.Create(CultureInfo.InvariantCulture, $"; bandwidth floor {floorSteps:F0} steps/s, reached {100 * stepsPerSecond / floorSteps:F1} %");
}

static int Check(GpuRwkvModel model, RwkvWeights weights, int count)
{
    using RwkvModel cpu = RwkvModel.Create(weights);
    int v = model.Shape.Vocab;
    RwkvState cpuState = cpu.CreateState();
    using GpuState gpuState = model.CreateState();
    float[] expected = new float[v], actual = new float[v];
    double worst = 0;
    for (int t = 0; t < count; t++)
    {
        int token = (t * 31337) % v;
        cpu.Forward(token, cpuState, expected);
        model.Forward(token, gpuState, actual);
        double mean = expected.Average(), std = Math.Sqrt(expected.Select(x => (x - mean) * (x - mean)).Average());
        double max = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max();
        worst = Math.Max(worst, max / std);
    }

    bool ok = worst <= 1e-4;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"check     {count} tokens against the CPU engine ({cpu.EngineName}): worst max |Δlogit| / row std = {worst:E2} ({(ok ? "ok" : "FAILED")}, bound 1e-4)"));
    return ok ? 0 : 1;
}

internal sealed record Options(string? Model, string? Synthetic, string Device, int Batch, int Tokens, int Prefill, double Bandwidth, int Check)
{
    public const string Usage =
        "usage: rwkv7-gpu (--model PATH | --synthetic NAME) [--device cuda|cpu] [--batch B] [--tokens N] [--prefill T] [--bandwidth GB/s] [--check N]";

    public static Options Parse(string[] args)
    {
        var o = new Options(null, null, "cuda", 1, 32, 0, 0, 0);
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            int Int() => int.TryParse(Next(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 0 ? n : throw new ArgumentException($"{args[i]} needs a non-negative integer.");
            o = args[i] switch
            {
                "--model" => o with { Model = Next() },
                "--synthetic" => o with { Synthetic = Next() },
                "--device" => o with { Device = Next() is "cuda" or "cpu" ? args[i] : throw new ArgumentException("--device is cuda or cpu.") },
                "--batch" => o with { Batch = Math.Max(1, Int()) },
                "--tokens" => o with { Tokens = Math.Max(1, Int()) },
                "--prefill" => o with { Prefill = Int() },
                "--check" => o with { Check = Int() },
                "--bandwidth" => o with { Bandwidth = double.Parse(Next(), CultureInfo.InvariantCulture) },
                _ => throw new ArgumentException($"Unknown option {args[i]}."),
            };
        }

        return (o.Model is null) == (o.Synthetic is null) ? throw new ArgumentException("Give exactly one of --model and --synthetic.") : o;
    }
}
