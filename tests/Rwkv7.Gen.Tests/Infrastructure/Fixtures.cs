using System.Runtime.InteropServices;
using System.Text.Json;

namespace Rwkv7.Gen.Tests.Infrastructure;

/// <summary>
/// Locates the shared fixtures (<c>../shared/fixtures</c> relative to the repository root; never copied into
/// the repository) and reads golden files.
/// </summary>
public static class Fixtures
{
    private static readonly Lazy<string> RootPath = new(FindRoot);

    /// <summary>Absolute path of the shared fixtures folder.</summary>
    public static string Root => RootPath.Value;

    /// <summary>Path of a fixture file given relative to the fixtures folder.</summary>
    public static string Path(string relative) => System.IO.Path.Combine(Root, relative);

    /// <summary>The repository root (the folder holding Rwkv7.Gen.sln).</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>Reads a raw little-endian float32 file.</summary>
    public static float[] ReadF32(string relative) =>
        MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path(relative))).ToArray();

    /// <summary>The token ids of a goldens folder's manifest.</summary>
    public static int[] ReadTokens(string goldensFolder)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Path(System.IO.Path.Combine(goldensFolder, "manifest.json"))));
        return doc.RootElement.GetProperty("sequence").GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    private static string FindRepositoryRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir, "Rwkv7.Gen.sln")))
        {
            dir = System.IO.Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException($"Rwkv7.Gen.sln not found above {AppContext.BaseDirectory}.");
    }

    private static string FindRoot()
    {
        string root = System.IO.Path.GetFullPath(System.IO.Path.Combine(RepositoryRoot, "..", "shared", "fixtures"));
        if (!Directory.Exists(root))
        {
            throw new InvalidOperationException($"Shared fixtures not found at {root}: the tests expect ../shared beside the repository.");
        }

        return root;
    }
}

/// <summary>The two golden models and their files.</summary>
public static class Models
{
    public const string TinyGoldens = "tiny-7v0-834K/goldens-seq1";
    public const string Mh4Goldens = "mh4/goldens";

    public const string TinyFp32Bin = "tiny-7v0-834K/tiny-rwkv-7v0-834K-FP32.bin";
    public const string TinyFp16Bin = "tiny-7v0-834K/tiny-rwkv-7v0-834K-FP16.bin";
    public const string TinyFp32Pth = "tiny-7v0-834K/tiny-rwkv-7v0-834K-fp32.pth";
    public const string TinyBf16Pth = "tiny-7v0-834K/tiny-rwkv-7v0-834K-bf16.pth";
    public const string TinyF32Safetensors = "tiny-7v0-834K/tiny-rwkv-7v0-834K-F32.safetensors";
    public const string TinyBf16Safetensors = "tiny-7v0-834K/tiny-rwkv-7v0-834K-BF16.safetensors";
    public const string TinyExpectedLogits = "tiny-7v0-834K/expected-logits-7v0-834K.bin";

    public const string Mh4Pth = "mh4/rwkv7-mh4-random-bf16.pth";
    public const string Mh4Safetensors = "mh4/rwkv7-mh4-random-bf16.safetensors";

    /// <summary>GGUF forms (fixtures README, "GGUF"): F32 and BF16 hold exactly the checkpoint's values.</summary>
    public const string TinyF32Gguf = "gguf/tiny-7v0-834K/tiny-rwkv-7v0-834K-F32.gguf";
    public const string TinyF16Gguf = "gguf/tiny-7v0-834K/tiny-rwkv-7v0-834K-F16.gguf";
    public const string TinyBf16Gguf = "gguf/tiny-7v0-834K/tiny-rwkv-7v0-834K-BF16.gguf";
    public const string TinyQ8Gguf = "gguf/tiny-7v0-834K/tiny-rwkv-7v0-834K-Q8_0.gguf";
    public const string TinyQ4Gguf = "gguf/tiny-7v0-834K/tiny-rwkv-7v0-834K-Q4_0.gguf";
    public const string Mh4Bf16Gguf = "gguf/mh4/rwkv7-mh4-random-BF16.gguf";
    public const string Mh4Q8Gguf = "gguf/mh4/rwkv7-mh4-random-Q8_0.gguf";
    public const string Mh4Q4Gguf = "gguf/mh4/rwkv7-mh4-random-Q4_0.gguf";
    public const string Mh4Q4KmGguf = "gguf/mh4/rwkv7-mh4-random-Q4_K_M.gguf";

    /// <summary>Every tiny-model file: all hold the same values (the FP16 .bin rounds matrices to fp16).</summary>
    public static readonly string[] TinyFiles =
        [TinyFp32Bin, TinyFp16Bin, TinyFp32Pth, TinyBf16Pth, TinyF32Safetensors, TinyBf16Safetensors, TinyF32Gguf, TinyBf16Gguf];

    public static readonly string[] Mh4Files = [Mh4Pth, Mh4Safetensors, Mh4Bf16Gguf];

    /// <summary>Whether a fixture path belongs to the mh4 model (its folder, or the GGUF folder's mh4 folder).</summary>
    public static bool IsMh4(string file) => file.StartsWith("mh4/", StringComparison.Ordinal) || file.StartsWith("gguf/mh4/", StringComparison.Ordinal);

    /// <summary>The GGUF files whose matrices are block-quantized (compared with their own expected logits).</summary>
    public static readonly string[] QuantizedGgufFiles = [TinyQ8Gguf, TinyQ4Gguf, Mh4Q8Gguf, Mh4Q4Gguf, Mh4Q4KmGguf];
}
