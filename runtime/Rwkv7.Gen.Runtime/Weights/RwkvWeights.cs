using System.Diagnostics.CodeAnalysis;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

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

    /// <summary>
    /// Plans the arena (<see cref="WeightPlan"/>), then packs every tensor into it (<see cref="WeightPacker"/>). An fp32
    /// matrix is planned as bf16 (half the arena) when the first rows of it hold bf16 values: a probe of a few KiB, which
    /// fp32-trained weights fail at once. Packing then checks every value; a matrix that fails after passing the probe
    /// needs its fp32 size, so the arena is planned again with it kept fp32 (the progress reported never goes back).
    /// </summary>
    private static RwkvWeights Pack(ModelShape shape, ITensorSource source, WeightLoadOptions options, string description, CheckpointFormat? format)
    {
        List<CanonicalTensor> tensors = CanonicalTensors.For(shape).ToList();
        HashSet<string> keptF32 = options.MatrixType is null ? WeightPlan.ProbeSingleMatrices(tensors, source) : [];
        var progress = options.Progress is null ? null : new MonotonicProgress(options.Progress);
        while (true)
        {
            var plan = new WeightPlan(tensors, source, options, keptF32);
            var weights = new RwkvWeights(shape, new NativeBuffer(plan.ArenaBytes), description, format);
            try
            {
                if (weights.TryPackAll(tensors, new WeightPacker(source, plan, options, weights._arena.Pointer), plan.SourceBytes, progress, out string? inexact))
                {
                    weights.Summarize(options);
                    return weights;
                }

                keptF32.Add(inexact);
            }
            catch
            {
                weights.Dispose();
                throw;
            }

            weights.Dispose();
        }
    }

    /// <summary>
    /// Packs every tensor into its slot; false, with the matrix to keep fp32 in <paramref name="inexact"/>, when an fp32
    /// matrix planned as bf16 holds a value bf16 cannot.
    /// </summary>
    private bool TryPackAll(List<CanonicalTensor> tensors, WeightPacker packer, long sourceBytes, MonotonicProgress? progress, [NotNullWhen(false)] out string? inexact)
    {
        long done = 0;
        foreach (CanonicalTensor t in tensors)
        {
            if (t.Role == TensorRole.Vector)
            {
                Assign(t, packer.PackVector(t));
            }
            else if (packer.TryPackMatrix(t, out WeightMatrix matrix))
            {
                Assign(t, matrix);
            }
            else
            {
                inexact = t.Name;
                return false;
            }

            done += packer.SourceBytes(t);
            progress?.Report(sourceBytes == 0 ? 1 : (double)done / sourceBytes);
        }

        inexact = null;
        return true;
    }

    /// <summary>The types as packed (an fp16 matrix may have become bf16 or not), and the bytes a token reads.</summary>
    private void Summarize(WeightLoadOptions options)
    {
        TensorDType? common = null;
        bool mixed = false;
        long matrixBytes = 0;
        foreach (WeightMatrix m in Matrices())
        {
            mixed |= common is { } c && c != m.Type;
            common ??= m.Type;
            matrixBytes += m.ByteLength;
        }

        // 4-bit weights keep their LoRA factors in 8 bits (WeightPlan): that is what q4 means.
        MatrixType = options.MatrixType == TensorDType.Q4 ? TensorDType.Q4 : mixed ? null : common;
        BytesReadPerToken = matrixBytes + (Embedding.ByteLength / Shape.Vocab);
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

    private void Assign(CanonicalTensor t, float[] v)
    {
        LayerWeights? layer = t.Layer >= 0 ? Layers[t.Layer] : null;
        switch (t.Slot)
        {
            case TensorSlot.Ln0Weight: Ln0Weight = v; break;
            case TensorSlot.Ln0Bias: Ln0Bias = v; break;
            case TensorSlot.LnOutWeight: LnOutWeight = v; break;
            case TensorSlot.LnOutBias: LnOutBias = v; break;
            case TensorSlot.Ln1Weight: layer!.Ln1Weight = v; break;
            case TensorSlot.Ln1Bias: layer!.Ln1Bias = v; break;
            case TensorSlot.Ln2Weight: layer!.Ln2Weight = v; break;
            case TensorSlot.Ln2Bias: layer!.Ln2Bias = v; break;
            case TensorSlot.MixR: layer!.MixR = v; break;
            case TensorSlot.MixW: layer!.MixW = v; break;
            case TensorSlot.MixK: layer!.MixK = v; break;
            case TensorSlot.MixV: layer!.MixV = v; break;
            case TensorSlot.MixA: layer!.MixA = v; break;
            case TensorSlot.MixG: layer!.MixG = v; break;
            case TensorSlot.DecayBias: layer!.DecayBias = v; break;
            case TensorSlot.IclrBias: layer!.IclrBias = v; break;
            case TensorSlot.ValueBias: layer!.ValueBias = v; break;
            case TensorSlot.KeyK: layer!.KeyK = v; break;
            case TensorSlot.KeyA: layer!.KeyA = v; break;
            case TensorSlot.BonusRK: layer!.BonusRK = v; break;
            case TensorSlot.LnXWeight: layer!.LnXWeight = v; break;
            case TensorSlot.LnXBias: layer!.LnXBias = v; break;
            case TensorSlot.FfnMixK: layer!.FfnMixK = v; break;
            default: throw new InvalidOperationException($"{t.Name} ({t.Slot}) is not a vector slot.");
        }
    }

    private void Assign(CanonicalTensor t, WeightMatrix m)
    {
        LayerWeights? layer = t.Layer >= 0 ? Layers[t.Layer] : null;
        switch (t.Slot)
        {
            case TensorSlot.Embedding: Embedding = m; break;
            case TensorSlot.Head: Head = m; break;
            case TensorSlot.DecayDown: layer!.DecayDown = m; break;
            case TensorSlot.DecayUp: layer!.DecayUp = m; break;
            case TensorSlot.IclrDown: layer!.IclrDown = m; break;
            case TensorSlot.IclrUp: layer!.IclrUp = m; break;
            case TensorSlot.ValueDown: layer!.ValueDown = m; break;
            case TensorSlot.ValueUp: layer!.ValueUp = m; break;
            case TensorSlot.GateDown: layer!.GateDown = m; break;
            case TensorSlot.GateUp: layer!.GateUp = m; break;
            case TensorSlot.Receptance: layer!.Receptance = m; break;
            case TensorSlot.Key: layer!.Key = m; break;
            case TensorSlot.Value: layer!.Value = m; break;
            case TensorSlot.Output: layer!.Output = m; break;
            case TensorSlot.FfnKey: layer!.FfnKey = m; break;
            case TensorSlot.FfnValue: layer!.FfnValue = m; break;
            default: throw new InvalidOperationException($"{t.Name} ({t.Slot}) is not a matrix slot.");
        }
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
}
