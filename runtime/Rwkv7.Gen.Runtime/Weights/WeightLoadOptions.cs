using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>Options for turning a checkpoint into packed weights.</summary>
public sealed class WeightLoadOptions
{
    /// <summary>
    /// Element type for every matrix, or null (the default) to keep each matrix's values as the file stores them, in
    /// the narrowest type that holds them exactly: an fp16 or fp32 matrix whose every value bf16 holds exactly is
    /// packed as bf16. fp16 and fp32 files are nearly always bf16 checkpoints converted (rwkv.cpp, GGUF, Hugging Face
    /// exports), whose values survive the trip both ways; as bf16 they take the generated bf16 kernels (there are no
    /// fp16 ones) and, from fp32, half the memory and half the bytes each decoded token reads. Ask for
    /// <see cref="TensorDType.F16"/> or <see cref="TensorDType.F32"/> to keep those types. Converting bf16 to fp32
    /// doubles memory and the bytes each token reads; converting to bf16 rounds. <see cref="TensorDType.Q8"/> and
    /// <see cref="TensorDType.Q4"/> quantize in blocks of 32 at load time (the embedding table keeps its type; under Q4
    /// the LoRA factors take 8 bits). A GGUF file's block-quantized matrices count as stored in the nearest packed type
    /// (<see cref="KeptBlocks"/>): Q8_0 and Q4_0 blocks are packed as they are, other block types are decoded and
    /// quantized again, unless another type is asked for.
    /// </summary>
    public TensorDType? MatrixType { get; init; }

    /// <summary>Receives the fraction of tensor bytes packed so far, from 0 to 1.</summary>
    public IProgress<double>? Progress { get; init; }
}
