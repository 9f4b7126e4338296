using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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

/// <summary>
/// A model's parameters, validated against its shape and packed once into compute layout: fp32 vectors, and
/// matrices in (out, in) row-major order inside one 64-byte aligned native block, each holding exactly its source
/// values (in bf16 where that type holds them) unless <see cref="WeightLoadOptions.MatrixType"/> asks otherwise.
/// </summary>
public sealed unsafe class RwkvWeights : IDisposable
{
    private readonly NativeBuffer _arena;

    private RwkvWeights(ModelShape shape, NativeBuffer arena, string source, CheckpointFormat? format)
    {
        Shape = shape;
        _arena = arena;
        Source = source;
        Format = format;
        var layers = new LayerWeights[shape.Layers];
        for (int i = 0; i < layers.Length; i++)
        {
            layers[i] = new LayerWeights(i);
        }

        Layers = layers;
    }

    /// <summary>The model's shape, as detected from the tensors.</summary>
    public ModelShape Shape { get; }

    /// <summary>Where the weights came from: a file path, or a description of synthetic weights.</summary>
    public string Source { get; }

    /// <summary>The container format, or null for synthetic weights.</summary>
    public CheckpointFormat? Format { get; }

    /// <summary>A GGUF file's metadata (tokenizer, file type, per-tensor types); null for other sources.</summary>
    public Loading.Gguf.GgufModelInfo? Gguf { get; private set; }

    /// <summary>Embedding table (V × D); ln0 is applied to the looked-up row at run time.</summary>
    public WeightMatrix Embedding { get; private set; }

    /// <summary>ln0 scale and bias (applied to the embedding).</summary>
    public float[] Ln0Weight { get; private set; } = [];

    /// <inheritdoc cref="Ln0Weight"/>
    public float[] Ln0Bias { get; private set; } = [];

    /// <summary>The blocks.</summary>
    public IReadOnlyList<LayerWeights> Layers { get; }

    /// <summary>Final LayerNorm scale and bias.</summary>
    public float[] LnOutWeight { get; private set; } = [];

    /// <inheritdoc cref="LnOutWeight"/>
    public float[] LnOutBias { get; private set; } = [];

    /// <summary>Output head (V × D).</summary>
    public WeightMatrix Head { get; private set; }

    /// <summary>Bytes of packed matrix data (everything but the small fp32 vectors).</summary>
    public long MatrixBytes => _arena.Length;

    /// <summary>The packed matrices' memory, for the bandwidth probe to stream without allocating.</summary>
    internal NativeBuffer Arena => _arena;

    /// <summary>
    /// The element type shared by every matrix but the embedding table, or null when they differ (e.g. a matrix of an
    /// fp32 file that bf16 cannot hold stays fp32 among bf16 ones). <see cref="TensorDType.Q4"/> weights keep their
    /// LoRA factors in 8 bits and report Q4.
    /// </summary>
    public TensorDType? MatrixType { get; private set; }

    /// <summary>
    /// Bytes of weights a decoded token must read: every matrix except the embedding table, of which one row is read.
    /// The memory-bandwidth floor of decoding is this divided by the bandwidth.
    /// </summary>
    public long BytesReadPerToken { get; private set; }

    /// <summary>Opens a checkpoint file (any supported format), validates it and packs its weights.</summary>
    /// <exception cref="RwkvFormatException">The file cannot be parsed.</exception>
    /// <exception cref="RwkvShapeException">The tensors do not form a valid RWKV-7 model.</exception>
    public static RwkvWeights Load(string path, WeightLoadOptions? options = null)
    {
        using Checkpoint checkpoint = Checkpoint.Open(path);
        return FromCheckpoint(checkpoint, options);
    }

    /// <summary>Validates and packs an opened checkpoint.</summary>
    public static RwkvWeights FromCheckpoint(Checkpoint checkpoint, WeightLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ModelShape shape = ShapeDetection.DetectAndValidate(checkpoint);
        RwkvWeights weights = Pack(shape, new CheckpointSource(checkpoint), options ?? new WeightLoadOptions(), checkpoint.FilePath, checkpoint.Format);
        weights.Gguf = checkpoint.Gguf;
        return weights;
    }

    /// <summary>
    /// Deterministic pseudo-random weights for <paramref name="shape"/> (for benchmarks and tests of shapes whose
    /// checkpoints are not at hand). They exercise every kernel at full size but do not form a language model.
    /// </summary>
    public static RwkvWeights CreateSynthetic(ModelShape shape, TensorDType matrixType = TensorDType.BF16, ulong seed = 1)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.HeadSize != ModelShape.SupportedHeadSize || shape.Embedding % shape.HeadSize != 0)
        {
            throw new ArgumentException($"Unsupported shape {shape}: head size must be 64 and divide the embedding.", nameof(shape));
        }

        // 8- and 4-bit weights are quantized from synthetic bf16 values, as a checkpoint's would be at load time; every
        // other type is packed as generated (fp16 too, which a checkpoint's would be only on request).
        bool quantize = matrixType is TensorDType.Q8 or TensorDType.Q4;
        var source = new SyntheticSource(quantize ? TensorDType.BF16 : matrixType, seed);
        var options = new WeightLoadOptions { MatrixType = matrixType };
        return Pack(shape, source, options, $"synthetic {matrixType.DisplayName()} weights (seed {seed})", null);
    }

    /// <inheritdoc />
    public void Dispose() => _arena.Dispose();

    private static RwkvWeights Pack(ModelShape shape, ITensorSource source, WeightLoadOptions options, string description, CheckpointFormat? format)
    {
        List<CanonicalTensor> tensors = CanonicalTensors.For(shape).ToList();

        // An fp32 matrix is planned as bf16 (half the arena) when the first rows of it hold bf16 values: a probe of a
        // few KiB, which fp32-trained weights fail at once. Packing then checks every value; a matrix that fails
        // after passing the probe needs its fp32 size, so the arena is planned again with it kept fp32.
        HashSet<string> keptF32 = options.MatrixType is null ? ProbeSingleMatrices(tensors, source) : [];
        var progress = options.Progress is null ? null : new MonotonicProgress(options.Progress);
        while (true)
        {
            try
            {
                return Pack(shape, tensors, source, options, keptF32, progress, description, format);
            }
            catch (InexactNarrowingException e)
            {
                keptF32.Add(e.Tensor);
            }
        }
    }

    private static RwkvWeights Pack(ModelShape shape, List<CanonicalTensor> tensors, ITensorSource source, WeightLoadOptions options,
        HashSet<string> keptF32, MonotonicProgress? progress, string description, CheckpointFormat? format)
    {
        // Plan the arena: every matrix at a 64-byte aligned offset, in the target element type.
        long arenaBytes = 0;
        var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
        long totalSourceBytes = 0;
        foreach (CanonicalTensor t in tensors)
        {
            totalSourceBytes += t.ElementCount * source.TypeOf(t).SizeInBytes();
            if (t.Role == TensorRole.Vector)
            {
                continue;
            }

            TensorDType type = TargetType(t, source, options, keptF32);
            offsets[t.Name] = arenaBytes;
            arenaBytes += PackedBytes(t, type);
        }

        var arena = new NativeBuffer(arenaBytes);
        var weights = new RwkvWeights(shape, arena, description, format);
        try
        {
            long done = 0;
            byte[] scratch = [];
            foreach (CanonicalTensor t in tensors)
            {
                TensorDType stored = source.TypeOf(t);
                int sourceBytes = checked((int)(t.ElementCount * stored.SizeInBytes()));
                if (t.Role == TensorRole.Vector)
                {
                    if (scratch.Length < sourceBytes)
                    {
                        scratch = new byte[sourceBytes];
                    }

                    source.Read(t, scratch.AsSpan(0, sourceBytes));
                    float[] values = new float[t.ElementCount];
                    Convert(scratch.AsSpan(0, sourceBytes), stored, MemoryMarshal.AsBytes(values.AsSpan()), TensorDType.F32);
                    weights.Assign(t.Name, values);
                }
                else
                {
                    TensorDType target = TargetType(t, source, options, keptF32);
                    byte* slot = arena.Pointer + offsets[t.Name];
                    int rows = t.Shape[0], cols = t.Shape[1];
                    if (KeptBlocks.TryPack(source, t, target, slot, out WeightMatrix kept))
                    {
                        weights.Assign(t.Name, kept);
                    }
                    else if (t.Role == TensorRole.Linear && target == stored)
                    {
                        source.Read(t, new Span<byte>(slot, sourceBytes));
                        weights.Assign(t.Name, new WeightMatrix(slot, rows, cols, target));
                    }
                    else if (t.Role == TensorRole.Linear)
                    {
                        // Converted or quantized in chunks of rows: never a second full copy of a large matrix.
                        int rowBytes = cols * stored.SizeInBytes();
                        int chunkRows = Math.Max(1, ChunkBytes / rowBytes);
                        if (scratch.Length < Math.Min(rows, chunkRows) * rowBytes)
                        {
                            scratch = new byte[Math.Min(rows, chunkRows) * rowBytes];
                        }

                        for (int first = 0; first < rows; first += chunkRows)
                        {
                            int count = Math.Min(chunkRows, rows - first);
                            Span<byte> chunk = scratch.AsSpan(0, count * rowBytes);
                            source.ReadRows(t, first, count, chunk);
                            if (target is TensorDType.Q8 or TensorDType.Q4)
                            {
                                QuantizeRows(chunk, stored, t, slot, first, count, cols, target);
                                continue;
                            }

                            int targetRowBytes = cols * target.SizeInBytes();
                            var packed = new Span<byte>(slot + ((long)first * targetRowBytes), count * targetRowBytes);
                            if (options.MatrixType is not null)
                            {
                                Convert(chunk, stored, packed, target);
                            }
                            else if (!TryNarrowExactly(chunk, stored, packed))
                            {
                                // A value bf16 cannot hold. fp16 takes the bf16 slot's bytes: the whole matrix is
                                // re-read and stays fp16, as the file stores it. fp32 needs twice them: plan again.
                                if (stored == TensorDType.F32)
                                {
                                    throw new InexactNarrowingException(t.Name);
                                }

                                target = TensorDType.F16;
                                source.Read(t, new Span<byte>(slot, sourceBytes));
                                break;
                            }
                        }

                        weights.Assign(t.Name, new WeightMatrix(slot, rows, cols, target));
                    }
                    else
                    {
                        // LoRA factors (small): canonical (in, out) used as x·A becomes (out, in) used as Aᵀ·x.
                        if (scratch.Length < sourceBytes)
                        {
                            scratch = new byte[sourceBytes];
                        }

                        source.Read(t, scratch.AsSpan(0, sourceBytes));
                        if (target == TensorDType.Q8)
                        {
                            float[] transposed = new float[t.ElementCount];
                            TransposeConvert(scratch.AsSpan(0, sourceBytes), stored, rows, cols, MemoryMarshal.AsBytes(transposed.AsSpan()), TensorDType.F32);
                            QuantizeRows(MemoryMarshal.AsBytes(transposed.AsSpan()), TensorDType.F32, t, slot, 0, cols, rows, TensorDType.Q8);
                            weights.Assign(t.Name, new WeightMatrix(slot, cols, rows, TensorDType.Q8));
                        }
                        else
                        {
                            if (options.MatrixType is null && target != stored && !HoldsExactlyInBFloat16(scratch.AsSpan(0, sourceBytes), stored))
                            {
                                target = stored == TensorDType.F16 ? TensorDType.F16 : throw new InexactNarrowingException(t.Name);
                            }

                            var destination = new Span<byte>(slot, checked((int)(t.ElementCount * target.SizeInBytes())));
                            TransposeConvert(scratch.AsSpan(0, sourceBytes), stored, rows, cols, destination, target);
                            weights.Assign(t.Name, new WeightMatrix(slot, cols, rows, target));
                        }
                    }
                }

                done += sourceBytes;
                progress?.Report(totalSourceBytes == 0 ? 1 : (double)done / totalSourceBytes);
            }

            // The types as packed (an fp16 matrix may have become bf16 or not), and the bytes a token reads.
            TensorDType? common = null;
            bool mixed = false;
            long matrixBytes = 0;
            foreach (WeightMatrix m in weights.Matrices())
            {
                mixed |= common is { } c && c != m.Type;
                common ??= m.Type;
                matrixBytes += m.ByteLength;
            }

            // 4-bit weights keep their LoRA factors in 8 bits (TargetType): that is what q4 means.
            weights.MatrixType = options.MatrixType == TensorDType.Q4 ? TensorDType.Q4 : mixed ? null : common;
            weights.BytesReadPerToken = matrixBytes + (weights.Embedding.ByteLength / shape.Vocab);
            return weights;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The fp32 matrices whose first rows (about <see cref="ProbeBytes"/>) hold a value bf16 cannot: they are planned
    /// in fp32. Every other fp32 matrix is planned as bf16.
    /// </summary>
    private static HashSet<string> ProbeSingleMatrices(List<CanonicalTensor> tensors, ITensorSource source)
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
            if (!HoldsExactlyInBFloat16(span, TensorDType.F32))
            {
                kept.Add(t.Name);
            }
        }

        return kept;
    }

    /// <summary>Bytes of each fp32 matrix's first rows read to decide whether to plan it as bf16.</summary>
    private const int ProbeBytes = 16 << 10;

    /// <summary>
    /// An fp32 matrix planned as bf16 holds a value bf16 cannot (past the probe): the arena must be planned again.
    /// Never leaves <see cref="Pack(ModelShape, ITensorSource, WeightLoadOptions, string, CheckpointFormat?)"/>.
    /// </summary>
    private sealed class InexactNarrowingException(string tensor) : Exception($"{tensor} holds a value bf16 cannot.")
    {
        public string Tensor { get; } = tensor;
    }

    /// <summary>Forwards progress that never goes back: a second packing pass restarts at 0 and reports nothing until it passes the first.</summary>
    private sealed class MonotonicProgress(IProgress<double> inner)
    {
        private double _reported = -1;

        public void Report(double value)
        {
            if (value > _reported)
            {
                _reported = value;
                inner.Report(value);
            }
        }
    }

    private void Assign(string name, float[] v)
    {
        switch (name)
        {
            case "blocks.0.ln0.weight": Ln0Weight = v; return;
            case "blocks.0.ln0.bias": Ln0Bias = v; return;
            case "ln_out.weight": LnOutWeight = v; return;
            case "ln_out.bias": LnOutBias = v; return;
        }

        (LayerWeights layer, string field) = Split(name);
        switch (field)
        {
            case "ln1.weight": layer.Ln1Weight = v; break;
            case "ln1.bias": layer.Ln1Bias = v; break;
            case "ln2.weight": layer.Ln2Weight = v; break;
            case "ln2.bias": layer.Ln2Bias = v; break;
            case "att.x_r": layer.MixR = v; break;
            case "att.x_w": layer.MixW = v; break;
            case "att.x_k": layer.MixK = v; break;
            case "att.x_v": layer.MixV = v; break;
            case "att.x_a": layer.MixA = v; break;
            case "att.x_g": layer.MixG = v; break;
            case "att.w0": layer.DecayBias = v; break;
            case "att.a0": layer.IclrBias = v; break;
            case "att.v0": layer.ValueBias = v; break;
            case "att.k_k": layer.KeyK = v; break;
            case "att.k_a": layer.KeyA = v; break;
            case "att.r_k": layer.BonusRK = v; break;
            case "att.ln_x.weight": layer.LnXWeight = v; break;
            case "att.ln_x.bias": layer.LnXBias = v; break;
            case "ffn.x_k": layer.FfnMixK = v; break;
            default: throw new InvalidOperationException($"No slot for vector {name}.");
        }
    }

    private void Assign(string name, WeightMatrix m)
    {
        switch (name)
        {
            case "emb.weight": Embedding = m; return;
            case "head.weight": Head = m; return;
        }

        (LayerWeights layer, string field) = Split(name);
        switch (field)
        {
            case "att.w1": layer.DecayDown = m; break;
            case "att.w2": layer.DecayUp = m; break;
            case "att.a1": layer.IclrDown = m; break;
            case "att.a2": layer.IclrUp = m; break;
            case "att.v1": layer.ValueDown = m; break;
            case "att.v2": layer.ValueUp = m; break;
            case "att.g1": layer.GateDown = m; break;
            case "att.g2": layer.GateUp = m; break;
            case "att.receptance.weight": layer.Receptance = m; break;
            case "att.key.weight": layer.Key = m; break;
            case "att.value.weight": layer.Value = m; break;
            case "att.output.weight": layer.Output = m; break;
            case "ffn.key.weight": layer.FfnKey = m; break;
            case "ffn.value.weight": layer.FfnValue = m; break;
            default: throw new InvalidOperationException($"No slot for matrix {name}.");
        }
    }

    private (LayerWeights Layer, string Field) Split(string name)
    {
        // "blocks.{i}.{field}"
        int dot = name.IndexOf('.', 7);
        int index = int.Parse(name.AsSpan(7, dot - 7), System.Globalization.CultureInfo.InvariantCulture);
        return (Layers[index], name[(dot + 1)..]);
    }

    /// <summary>Every matrix but the embedding table: the head, then each layer's.</summary>
    private IEnumerable<WeightMatrix> Matrices()
    {
        yield return Head;
        foreach (LayerWeights l in Layers)
        {
            foreach (WeightMatrix m in (WeightMatrix[])[l.Receptance, l.Key, l.Value, l.Output, l.DecayDown, l.DecayUp, l.IclrDown,
                l.IclrUp, l.GateDown, l.GateUp, l.FfnKey, l.FfnValue])
            {
                yield return m;
            }

            if (!l.ValueDown.IsEmpty)
            {
                yield return l.ValueDown;
                yield return l.ValueUp;
            }
        }
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
    private static TensorDType TargetType(CanonicalTensor t, ITensorSource source, WeightLoadOptions options, HashSet<string> keptF32)
    {
        TensorDType stored = source.TypeOf(t);
        IBlockQuantizedTensor? blocks = source.BlocksOf(t);
        return options.MatrixType switch
        {
            TensorDType.Q8 or TensorDType.Q4 when t.Name == "emb.weight" => blocks is null ? stored : KeptBlocks.EmbeddingType(t, blocks, options.MatrixType.Value),
            null when blocks is not null => KeptBlocks.KeepType(t, blocks),
            TensorDType.Q4 when t.Role == TensorRole.LoraFactor => TensorDType.Q8,
            { } requested => requested,
            null when stored == TensorDType.F16 => TensorDType.BF16,
            null when stored == TensorDType.F32 && !keptF32.Contains(t.Name) => TensorDType.BF16,
            null => stored,
        };
    }

    /// <summary>
    /// Converts fp16 or fp32 values to bf16 into <paramref name="destination"/> if every one converts exactly (the low
    /// 16 bits of its fp32 value are zero: at most 8 significant bits, which any bf16 checkpoint's values have);
    /// returns false, leaving <paramref name="destination"/> partly written, at the first block that does not.
    /// </summary>
    private static bool TryNarrowExactly(ReadOnlySpan<byte> source, TensorDType stored, Span<byte> destination)
    {
        Span<ushort> narrowed = MemoryMarshal.Cast<byte, ushort>(destination);
        if (stored == TensorDType.F32)
        {
            return TryNarrowSingles(MemoryMarshal.Cast<byte, uint>(source), narrowed);
        }

        ReadOnlySpan<Half> halves = MemoryMarshal.Cast<byte, Half>(source);
        Span<float> wide = stackalloc float[256];
        for (int start = 0; start < halves.Length; start += wide.Length)
        {
            int n = Math.Min(wide.Length, halves.Length - start);
            System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(halves.Slice(start, n), wide[..n]);
            if (!TryNarrowSingles(MemoryMarshal.Cast<float, uint>(wide[..n]), narrowed.Slice(start, n)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The high halves of fp32 bit patterns, if every low half is zero (see <see cref="TryNarrowExactly"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool TryNarrowSingles(ReadOnlySpan<uint> bits, Span<ushort> narrowed)
    {
        int i = 0;
        var low = Vector256.Create(0xFFFFu);
        for (; i + (2 * Vector256<uint>.Count) <= bits.Length; i += 2 * Vector256<uint>.Count)
        {
            var a = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(bits), (nuint)i);
            var b = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(bits), (nuint)(i + Vector256<uint>.Count));
            if (((a | b) & low) != Vector256<uint>.Zero)
            {
                return false;
            }

            Vector256.Narrow(a >> 16, b >> 16).StoreUnsafe(ref MemoryMarshal.GetReference(narrowed), (nuint)i);
        }

        for (; i < bits.Length; i++)
        {
            if ((bits[i] & 0xFFFF) != 0)
            {
                return false;
            }

            narrowed[i] = (ushort)(bits[i] >> 16);
        }

        return true;
    }

    /// <summary>Whether every fp16 or fp32 value in <paramref name="source"/> converts to bf16 exactly (see <see cref="TryNarrowExactly"/>).</summary>
    private static bool HoldsExactlyInBFloat16(ReadOnlySpan<byte> source, TensorDType stored)
    {
        if (stored == TensorDType.F32)
        {
            foreach (uint bits in MemoryMarshal.Cast<byte, uint>(source))
            {
                if ((bits & 0xFFFF) != 0)
                {
                    return false;
                }
            }

            return true;
        }

        foreach (Half h in MemoryMarshal.Cast<byte, Half>(source))
        {
            if ((BitConverter.SingleToUInt32Bits((float)h) & 0xFFFF) != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Arena bytes of a matrix in <paramref name="type"/> (Q8, Q4: each row's packed values, then its block scales).</summary>
    private static long PackedBytes(CanonicalTensor t, TensorDType type) => type switch
    {
        TensorDType.Q8 => AlignUp(t.ElementCount + (t.ElementCount / Q8Block.Size * sizeof(float))),
        TensorDType.Q4 => AlignUp((t.ElementCount / 2) + (t.ElementCount / Q4Block.Size * sizeof(float))),
        _ => AlignUp(t.ElementCount * type.SizeInBytes()),
    };

    /// <summary>Rows per chunk when converting or quantizing a large matrix: about this many bytes of source.</summary>
    private const int ChunkBytes = 4 << 20;

    /// <summary>
    /// Quantizes <paramref name="count"/> rows of <paramref name="cols"/> values, given in <paramref name="stored"/>,
    /// into rows [first, first + count) of the Q8 or Q4 (<paramref name="target"/>) matrix in <paramref name="slot"/>.
    /// </summary>
    private static void QuantizeRows(ReadOnlySpan<byte> data, TensorDType stored, CanonicalTensor t, byte* slot, int first, int count, int cols, TensorDType target)
    {
        bool q4 = target == TensorDType.Q4;
        int block = q4 ? Q4Block.Size : Q8Block.Size;
        if (cols % block != 0)
        {
            throw new RwkvException($"{t.Name}: rows of {cols} values cannot be split into {(q4 ? 4 : 8)}-bit blocks of {block}.");
        }

        int blocks = cols / block;
        int rowBytes = cols * stored.SizeInBytes();
        int packedRowBytes = q4 ? Q4Block.RowBytes(cols) : Q8Block.RowBytes(cols);
        int valueBytes = q4 ? cols / 2 : cols;

        // Rows are independent: quantized on every core (a row's rounding does not depend on which thread does it).
        fixed (byte* source = data)
        {
            byte* from = source;
            Parallel.For(0, count, () => new float[cols], (r, _, row) =>
            {
                Convert(new ReadOnlySpan<byte>(from + ((long)r * rowBytes), rowBytes), stored, MemoryMarshal.AsBytes(row.AsSpan()), TensorDType.F32);
                byte* packed = slot + ((long)(first + r) * packedRowBytes);
                var scales = new Span<float>(packed + valueBytes, blocks);
                if (q4)
                {
                    Q4Quantizer.QuantizeRow(row, new Span<byte>(packed, valueBytes), scales);
                }
                else
                {
                    Q8Quantizer.QuantizeRow(row, new Span<sbyte>(packed, cols), scales);
                }

                return row;
            }, _ => { });
        }
    }

    private static long AlignUp(long bytes) => (bytes + NativeBuffer.Alignment - 1) & ~(long)(NativeBuffer.Alignment - 1);

    private static float Read(ReadOnlySpan<byte> data, TensorDType type, int index) => type switch
    {
        TensorDType.F32 => MemoryMarshal.Cast<byte, float>(data)[index],
        TensorDType.BF16 => BFloat16Conversions.ToSingle(MemoryMarshal.Cast<byte, ushort>(data)[index]),
        _ => (float)MemoryMarshal.Cast<byte, Half>(data)[index],
    };

    private static void Write(Span<byte> data, TensorDType type, int index, float value)
    {
        switch (type)
        {
            case TensorDType.F32: MemoryMarshal.Cast<byte, float>(data)[index] = value; break;
            case TensorDType.BF16: MemoryMarshal.Cast<byte, ushort>(data)[index] = BFloat16Conversions.FromSingle(value); break;
            default: MemoryMarshal.Cast<byte, Half>(data)[index] = (Half)value; break;
        }
    }

    private static void Convert(ReadOnlySpan<byte> source, TensorDType from, Span<byte> destination, TensorDType to)
    {
        if (from == to)
        {
            source.CopyTo(destination);
            return;
        }

        if (to == TensorDType.F32 && from is TensorDType.BF16 or TensorDType.F16)
        {
            // Widening, exact: the vectorized forms of Read.
            Span<float> wide = MemoryMarshal.Cast<byte, float>(destination);
            if (from == TensorDType.BF16)
            {
                BFloat16Conversions.ToSingle(MemoryMarshal.Cast<byte, ushort>(source), wide);
            }
            else
            {
                HalfConversions.ToSingle(MemoryMarshal.Cast<byte, Half>(source), wide);
            }

            return;
        }

        if (from == TensorDType.F32 && to == TensorDType.BF16)
        {
            // An fp32 checkpoint asked for in bf16: rounded with vectors, as the per-value loop below rounds.
            BFloat16Conversions.FromSingle(MemoryMarshal.Cast<byte, float>(source), MemoryMarshal.Cast<byte, ushort>(destination));
            return;
        }

        int count = source.Length / from.SizeInBytes();
        for (int i = 0; i < count; i++)
        {
            Write(destination, to, i, Read(source, from, i));
        }
    }

    private static void TransposeConvert(ReadOnlySpan<byte> source, TensorDType from, int rows, int cols, Span<byte> destination, TensorDType to)
    {
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                Write(destination, to, (c * rows) + r, Read(source, from, (r * cols) + c));
            }
        }
    }
}
