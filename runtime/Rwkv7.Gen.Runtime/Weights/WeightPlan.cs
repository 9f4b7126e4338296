using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// The layout of a model's packed matrices: each matrix's packed type and its 64-byte aligned offset in one native
/// arena, decided before anything is packed (<see cref="WeightPacker"/> then fills it).
/// </summary>
internal sealed class WeightPlan
{
    /// <summary>Bytes of each fp32 matrix's first rows read to decide whether to plan it as bf16.</summary>
    private const int ProbeBytes = 16 << 10;

    private readonly Dictionary<string, (TensorDType Type, long Offset)> _matrices = new(StringComparer.Ordinal);

    /// <summary>
    /// Plans <paramref name="tensors"/> as <paramref name="source"/> stores them and <paramref name="options"/> asks; the
    /// fp32 matrices named in <paramref name="keptF32"/> stay fp32 under <c>keep</c> (<see cref="TargetType"/>).
    /// </summary>
    public WeightPlan(IReadOnlyList<CanonicalTensor> tensors, ITensorSource source, WeightLoadOptions options, IReadOnlySet<string> keptF32)
    {
        foreach (CanonicalTensor t in tensors)
        {
            SourceBytes += t.ElementCount * source.TypeOf(t).SizeInBytes();
            if (t.Role == TensorRole.Vector)
            {
                continue;
            }

            TensorDType type = TargetType(t, source, options, keptF32);
            _matrices[t.Name] = (type, ArenaBytes);
            ArenaBytes += PackedBytes(t, type);
        }
    }

    /// <summary>Bytes of the arena every matrix fits in.</summary>
    public long ArenaBytes { get; }

    /// <summary>Bytes of every tensor as the source stores them (what packing reads, for progress).</summary>
    public long SourceBytes { get; }

    /// <summary>The packed type a matrix was planned in.</summary>
    public TensorDType TypeOf(CanonicalTensor matrix) => _matrices[matrix.Name].Type;

    /// <summary>Where in the arena a matrix was planned.</summary>
    public long OffsetOf(CanonicalTensor matrix) => _matrices[matrix.Name].Offset;

    /// <summary>
    /// The fp32 matrices whose first rows (about <see cref="ProbeBytes"/>) hold a value bf16 cannot: they are planned
    /// in fp32. Every other fp32 matrix is planned as bf16 under <c>keep</c>; fp32-trained weights fail the probe at
    /// once, and a matrix that fails only past it makes loading plan again (<see cref="RwkvWeights"/>).
    /// </summary>
    public static HashSet<string> ProbeSingleMatrices(IReadOnlyList<CanonicalTensor> tensors, ITensorSource source)
    {
        var kept = new HashSet<string>(StringComparer.Ordinal);
        byte[] probe = [];
        foreach (CanonicalTensor t in tensors)
        {
            if (t.Role == TensorRole.Vector || source.TypeOf(t) != TensorDType.F32 || source.BlocksOf(t) is not null)
            {
                continue;
            }

            int rowBytes = t.Shape[1] * sizeof(float);
            int rows = Math.Clamp(ProbeBytes / rowBytes, 1, t.Shape[0]);
            if (probe.Length < rows * rowBytes)
            {
                probe = new byte[rows * rowBytes];
            }

            Span<byte> span = probe.AsSpan(0, rows * rowBytes);
            source.ReadRows(t, 0, rows, span);
            if (!TensorConversions.HoldsExactlyInBFloat16(span, TensorDType.F32))
            {
                kept.Add(t.Name);
            }
        }

        return kept;
    }

    /// <summary>
    /// The packed type of a matrix: the requested one, else as stored, except that fp16, and fp32 not in
    /// <paramref name="keptF32"/>, are planned as bf16, which packing keeps only when every value converts exactly
    /// (<see cref="WeightLoadOptions.MatrixType"/>). The embedding table is never quantized: one row of it is read per
    /// token, so 8 bits would save memory but no bandwidth, at a cost in precision. Asked for 4 bits, the LoRA factors
    /// are quantized to 8: they are 6% of a layer's weights, and their products (rank 32–128 rows) have 8-bit kernels
    /// in every generated model, 4-bit ones in none. A block-quantized matrix (GGUF) counts as stored in its nearest
    /// packed type (<see cref="KeptBlocks.KeepType"/>).
    /// </summary>
    private static TensorDType TargetType(CanonicalTensor t, ITensorSource source, WeightLoadOptions options, IReadOnlySet<string> keptF32)
    {
        TensorDType stored = source.TypeOf(t);
        IBlockQuantizedTensor? blocks = source.BlocksOf(t);
        return options.MatrixType switch
        {
            TensorDType.Q8 or TensorDType.Q4 when t.Slot == TensorSlot.Embedding => blocks is null ? stored : KeptBlocks.EmbeddingType(t, blocks, options.MatrixType.Value),
            null when blocks is not null => KeptBlocks.KeepType(t, blocks),
            TensorDType.Q4 when t.Role == TensorRole.LoraFactor => TensorDType.Q8,
            { } requested => requested,
            null when stored == TensorDType.F16 => TensorDType.BF16,
            null when stored == TensorDType.F32 && !keptF32.Contains(t.Name) => TensorDType.BF16,
            null => stored,
        };
    }

    /// <summary>Arena bytes of a matrix in <paramref name="type"/> (Q8, Q4: each row's packed values, then its block scales).</summary>
    private static long PackedBytes(CanonicalTensor t, TensorDType type) => type switch
    {
        TensorDType.Q8 => AlignUp(t.ElementCount + (t.ElementCount / Q8Block.Size * sizeof(float))),
        TensorDType.Q4 => AlignUp((t.ElementCount / 2) + (t.ElementCount / Q4Block.Size * sizeof(float))),
        _ => AlignUp(t.ElementCount * type.SizeInBytes()),
    };

    private static long AlignUp(long bytes) => (bytes + NativeBuffer.Alignment - 1) & ~(long)(NativeBuffer.Alignment - 1);
}
