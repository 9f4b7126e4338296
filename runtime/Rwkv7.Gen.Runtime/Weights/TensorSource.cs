using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>Where packing reads canonical tensors from: a checkpoint file, or generated synthetic values.</summary>
internal interface ITensorSource
{
    /// <summary>Element type the tensor is stored in.</summary>
    TensorDType TypeOf(CanonicalTensor tensor);

    /// <summary>Reads the tensor in canonical row-major order and its stored type into <paramref name="destination"/>.</summary>
    void Read(CanonicalTensor tensor, Span<byte> destination);

    /// <summary>Reads rows [firstRow, firstRow + rowCount) (first dimension) of a 2-D tensor.</summary>
    void ReadRows(CanonicalTensor tensor, int firstRow, int rowCount, Span<byte> destination);

    /// <summary>
    /// The tensor's stored blocks when it is block-quantized (a GGUF Q8_0, Q4_0 or k-quant matrix), else null; its
    /// <see cref="TypeOf"/> is then fp32, the type its decoded values read in.
    /// </summary>
    IBlockQuantizedTensor? BlocksOf(CanonicalTensor tensor);
}

/// <summary>Reads from an opened, already validated checkpoint.</summary>
internal sealed class CheckpointSource(Checkpoint checkpoint) : ITensorSource
{
    public TensorDType TypeOf(CanonicalTensor tensor) => Get(tensor).DType;

    public void Read(CanonicalTensor tensor, Span<byte> destination) => Get(tensor).ReadTo(destination);

    public void ReadRows(CanonicalTensor tensor, int firstRow, int rowCount, Span<byte> destination) =>
        Get(tensor).ReadRowsTo(firstRow, rowCount, destination);

    public IBlockQuantizedTensor? BlocksOf(CanonicalTensor tensor) => Get(tensor) as IBlockQuantizedTensor;

    private CheckpointTensor Get(CanonicalTensor tensor) =>
        checkpoint.Find(tensor.Name) ?? throw new InvalidOperationException($"Tensor {tensor.Name} vanished after validation.");
}

/// <summary>
/// Deterministic pseudo-random weights of a given shape, scaled like a trained model's so that activations stay
/// in range: for benchmarks of any shape without a download. Not a usable language model.
/// </summary>
internal sealed class SyntheticSource(TensorDType matrixType, ulong seed) : ITensorSource
{
    public TensorDType TypeOf(CanonicalTensor tensor) => tensor.Role == TensorRole.Vector ? TensorDType.F32 : matrixType;

    public void Read(CanonicalTensor tensor, Span<byte> destination) => Generate(tensor, 0, destination);

    public void ReadRows(CanonicalTensor tensor, int firstRow, int rowCount, Span<byte> destination) =>
        Generate(tensor, (long)firstRow * tensor.Shape[^1], destination);

    public IBlockQuantizedTensor? BlocksOf(CanonicalTensor tensor) => null;

    /// <summary>
    /// Writes elements from <paramref name="firstElement"/> on. SplitMix64 is counter-based (element i draws from
    /// state0 + (i + 1)·γ), so any range can be generated directly, and values depend on neither read order nor range.
    /// </summary>
    private void Generate(CanonicalTensor tensor, long firstElement, Span<byte> destination)
    {
        ulong state = (seed ^ Fnv1a(tensor.Name)) + ((ulong)firstElement * Golden);
        int inner = tensor.Shape[^1];
        float scale = tensor.Role == TensorRole.Vector ? 0.5f : 1f / MathF.Sqrt(Math.Max(inner, tensor.Shape[0]));
        float offset = Offset(tensor.Name);
        TensorDType type = TypeOf(tensor);
        int count = destination.Length / type.SizeInBytes();
        switch (type)
        {
            case TensorDType.F32:
                Span<float> f32 = MemoryMarshal.Cast<byte, float>(destination);
                for (int i = 0; i < count; i++)
                {
                    f32[i] = offset + (scale * NextUniform(ref state));
                }

                break;
            case TensorDType.BF16:
                Span<ushort> bf16 = MemoryMarshal.Cast<byte, ushort>(destination);
                for (int i = 0; i < count; i++)
                {
                    bf16[i] = BFloat16Conversions.FromSingle(offset + (scale * NextUniform(ref state)));
                }

                break;
            default:
                Span<Half> f16 = MemoryMarshal.Cast<byte, Half>(destination);
                for (int i = 0; i < count; i++)
                {
                    f16[i] = (Half)(offset + (scale * NextUniform(ref state)));
                }

                break;
        }
    }

    private const ulong Golden = 0x9E3779B97F4A7C15UL;

    // LayerNorm scales near 1 and decay bias in the trained range keep the synthetic model numerically tame.
    private static float Offset(string name) =>
        name.EndsWith("ln0.weight", StringComparison.Ordinal) || name.EndsWith("ln1.weight", StringComparison.Ordinal)
        || name.EndsWith("ln2.weight", StringComparison.Ordinal) || name.EndsWith("ln_x.weight", StringComparison.Ordinal)
        || name.EndsWith("ln_out.weight", StringComparison.Ordinal) ? 1f
        : name.EndsWith("att.w0", StringComparison.Ordinal) ? -4f
        : 0f;

    private static float NextUniform(ref ulong state)
    {
        state += Golden;
        ulong z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return ((z >> 40) * (1f / (1 << 24) * 2f)) - 1f; // uniform in [-1, 1)
    }

    private static ulong Fnv1a(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        return h;
    }
}
