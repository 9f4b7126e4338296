using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Rwkv7.Gen.IO;
using Rwkv7.Gen.Text;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Loading.Gguf;

/// <summary>Options for <see cref="GgufWriter.Write"/>.</summary>
public sealed class GgufWriteOptions
{
    /// <summary>
    /// Type of the matrices: null keeps each as stored (F32, F16 or BF16; a block-quantized GGUF matrix as Q8_0 or
    /// Q4_0, the nearest block type), <see cref="TensorDType.F32"/>, <see cref="TensorDType.F16"/> or
    /// <see cref="TensorDType.BF16"/> convert them, <see cref="TensorDType.Q8"/> writes Q8_0 and <see cref="TensorDType.Q4"/>
    /// Q4_0 (the head Q8_0, as llama.cpp gives the head more bits). Quantized files keep the LoRA factors in the
    /// float type they have, as llama-quantize does.
    /// </summary>
    public TensorDType? MatrixType { get; init; }

    /// <summary>
    /// The World vocabulary to write as <c>tokenizer.ggml.tokens</c>; null takes the source GGUF's. Byte-level models
    /// (vocabulary 256) need none. llama.cpp refuses a model without a token list.
    /// </summary>
    public RwkvTokenizer? Vocabulary { get; init; }

    /// <summary><c>general.name</c>; null takes the source GGUF's name, else the source file's name.</summary>
    public string? Name { get; init; }

    /// <summary>Receives the fraction of tensor bytes written.</summary>
    public IProgress<double>? Progress { get; init; }
}

/// <summary>
/// Writes an RWKV-7 checkpoint as a GGUF file (version 3) that llama.cpp loads: the <c>rwkv7</c> architecture's
/// metadata, tensor names and layouts as llama.cpp's converter writes them (the reverse of <see cref="GgufReader"/>,
/// layer 0's value-residual placeholders included), its types rules (vectors, the fused token shift and the decay LoRA
/// in F32), and the token list. The same input gives the same bytes: fixed key and tensor order, no timestamps, no
/// paths, quantization that does not depend on the machine. Written under a temporary name and renamed into place
/// once complete.
/// </summary>
public static class GgufWriter
{
    private const int Version = 3;
    private const int Alignment = GgufFile.DefaultAlignment;

    /// <summary>What llama.cpp's converter writes for the context length: RWKV has no limit.</summary>
    private const uint ContextLength = 1 << 20;
    private const float LayerNormEpsilon = ModelMath.LayerNormEps;
    private const uint QuantizationVersion = 2;

    /// <summary>llama.cpp token types.</summary>
    private const int NormalToken = 1, ControlToken = 3, UnusedToken = 5;

    /// <summary>Converts <paramref name="checkpoint"/> to a GGUF file at <paramref name="outputPath"/>.</summary>
    /// <returns>The shape of the written model.</returns>
    /// <exception cref="RwkvShapeException">The checkpoint is not a valid RWKV-7 model.</exception>
    /// <exception cref="RwkvException">A World model has no vocabulary to write, or a value does not fit the chosen type.</exception>
    public static ModelShape Write(Checkpoint checkpoint, string outputPath, GgufWriteOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(outputPath);
        options ??= new GgufWriteOptions();
        if (options.MatrixType is { } requested && requested is not (TensorDType.F32 or TensorDType.F16 or TensorDType.BF16 or TensorDType.Q8 or TensorDType.Q4))
        {
            throw new ArgumentException($"GGUF matrices can be written as fp32, fp16, bf16, q8 (Q8_0) or q4 (Q4_0), not {requested.DisplayName()}.", nameof(options));
        }

        ModelShape shape = ShapeDetection.DetectAndValidate(checkpoint);
        List<Planned> tensors = Plan(checkpoint, shape, options.MatrixType);
        byte[] header = Header(checkpoint, shape, options, tensors);
        long total = tensors.Sum(t => Padded(t.Bytes));

        string full = Path.GetFullPath(outputPath);
        string temp = AtomicFile.TemporaryPathFor(full);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                stream.Write(header);
                long written = 0;
                foreach (Planned t in tensors)
                {
                    byte[] data = t.Data();
                    if (data.Length != t.Bytes)
                    {
                        throw new InvalidOperationException($"{t.Name}: planned {t.Bytes} bytes, produced {data.Length}.");
                    }

                    stream.Write(data);
                    stream.Write(new byte[Padded(t.Bytes) - t.Bytes]);
                    written += Padded(t.Bytes);
                    options.Progress?.Report((double)written / Math.Max(1, total));
                }

                stream.Flush(flushToDisk: true);
            }

            AtomicFile.Replace(temp, full);
        }
        catch
        {
            AtomicFile.TryDelete(temp);
            throw;
        }

        return shape;
    }

    /// <summary>One tensor to write: GGUF name, dims innermost first, type, byte size and a function producing its bytes.</summary>
    private sealed record Planned(string Name, ulong[] Dims, GgmlType Type, long Bytes, Func<byte[]> Data);

    /// <summary>Every tensor in llama.cpp's converter order: the embedding and ln0, each block, then ln_out and the head.</summary>
    private static List<Planned> Plan(Checkpoint checkpoint, ModelShape shape, TensorDType? matrixType)
    {
        var plan = new List<Planned>();
        CheckpointTensor Get(string name) => checkpoint.Find(name)!;

        plan.Add(Matrix("token_embd.weight", Get("emb.weight"), TensorRole.Linear, MatrixGgmlType(Get("emb.weight"), matrixType, head: false)));
        plan.Add(Vector("token_embd_norm.weight", Get("blocks.0.ln0.weight")));
        plan.Add(Vector("token_embd_norm.bias", Get("blocks.0.ln0.bias")));
        for (int i = 0; i < shape.Layers; i++)
        {
            string b = $"blocks.{i}.", g = $"{GgufRwkv7Names.BlockPrefix}{i}.";
            foreach ((string gguf, string canonical, GgufChange change) in GgufRwkv7Names.PerBlock)
            {
                string source = i == 0 && Array.IndexOf(GgufRwkv7Names.Layer0Placeholders, gguf) >= 0
                    ? canonical.Replace("att.v", "att.a", StringComparison.Ordinal) // llama.cpp's loader wants layer 0's v tensors: copies of a0/a1/a2
                    : canonical;
                plan.Add(change switch
                {
                    GgufChange.FusedShift => FusedShift(g + gguf, checkpoint, b, shape.Embedding),
                    GgufChange.Transposed => Matrix(g + gguf, Get(b + source), TensorRole.LoraFactor, LoraGgmlType(Get(b + source), matrixType, gguf)),
                    GgufChange.None => Matrix(g + gguf, Get(b + source), TensorRole.Linear, MatrixGgmlType(Get(b + source), matrixType, head: false)),
                    _ => Vector(g + gguf, Get(b + source)),
                });
            }
        }

        plan.Add(Vector("output_norm.weight", Get("ln_out.weight")));
        plan.Add(Vector("output_norm.bias", Get("ln_out.bias")));
        plan.Add(Matrix("output.weight", Get("head.weight"), TensorRole.Linear, MatrixGgmlType(Get("head.weight"), matrixType, head: true)));
        return plan;
    }

    /// <summary>
    /// The type of a product matrix (embedding, head, R/K/V/O, FFN): the one asked for; kept, the stored float type, or
    /// for block-quantized storage Q8_0 / Q4_0 (the head Q8_0 in 4-bit files).
    /// </summary>
    private static GgmlType MatrixGgmlType(CheckpointTensor t, TensorDType? requested, bool head)
    {
        TensorDType type = requested ?? (t as IBlockQuantizedTensor)?.NearestPackedType ?? t.DType;
        return type switch
        {
            TensorDType.Q4 when head => GgmlType.Q8_0,
            TensorDType.Q4 => GgmlType.Q4_0,
            TensorDType.Q8 => GgmlType.Q8_0,
            _ => FloatType(type),
        };
    }

    /// <summary>
    /// LoRA factors: the decay LoRA (w1, w2) always F32, as llama.cpp's converter writes it; the others in the float type
    /// asked for, or kept (a block-quantized factor as F32, its exact values) in quantized files.
    /// </summary>
    private static GgmlType LoraGgmlType(CheckpointTensor t, TensorDType? requested, string gguf) =>
        gguf.StartsWith("time_mix_w", StringComparison.Ordinal) ? GgmlType.F32
        : requested is TensorDType.F32 or TensorDType.F16 or TensorDType.BF16 ? FloatType(requested.Value)
        : FloatType(t.DType);

    private static GgmlType FloatType(TensorDType type) => type switch
    {
        TensorDType.F16 => GgmlType.F16,
        TensorDType.BF16 => GgmlType.BF16,
        _ => GgmlType.F32,
    };

    /// <summary>A vector (or r_k) as F32 [C].</summary>
    private static Planned Vector(string name, CheckpointTensor t) =>
        new(name, [(ulong)t.ElementCount], GgmlType.F32, t.ElementCount * sizeof(float), () => MemoryMarshal.AsBytes(ReadFloats(t).AsSpan()).ToArray());

    /// <summary><c>time_mix_lerp_fused</c>: x_r, x_w, x_k, x_v, x_a, x_g as six F32 rows of C, dims [C, 1, 1, 6].</summary>
    private static Planned FusedShift(string name, Checkpoint checkpoint, string block, int c)
    {
        int count = CanonicalTensors.TimeMixShiftNames.Length;
        return new(name, [(ulong)c, 1, 1, (ulong)count], GgmlType.F32, (long)count * c * sizeof(float), () =>
        {
            float[] all = new float[count * c];
            for (int i = 0; i < count; i++)
            {
                ReadFloats(checkpoint.Find(block + "att." + CanonicalTensors.TimeMixShiftNames[i])!).CopyTo(all, i * c);
            }

            return MemoryMarshal.AsBytes(all.AsSpan()).ToArray();
        });
    }

    /// <summary>
    /// A matrix as the rows y = W·x reads, dims [in, out]: a linear matrix as stored, a LoRA factor transposed
    /// (canonical (in, out) → out rows of in values).
    /// </summary>
    private static Planned Matrix(string name, CheckpointTensor t, TensorRole role, GgmlType type)
    {
        (int rows, int cols) = role == TensorRole.LoraFactor ? (t.Shape[1], t.Shape[0]) : (t.Shape[0], t.Shape[1]);
        GgmlTypes.TryGetLayout(type, out int blockValues, out int blockBytes);
        if (cols % blockValues != 0)
        {
            throw new RwkvException($"{t.Name}: rows of {cols} values cannot be stored as {GgmlTypes.Name(type)} blocks of {blockValues}.");
        }

        long bytes = (long)rows * (cols / blockValues) * blockBytes;
        return new(name, [(ulong)cols, (ulong)rows], type, bytes, () => MatrixBytes(t, role, type, rows, cols, bytes));
    }

    private static byte[] MatrixBytes(CheckpointTensor t, TensorRole role, GgmlType type, int rows, int cols, long bytes)
    {
        byte[] output = new byte[checked((int)bytes)];
        if (type is GgmlType.Q8_0 or GgmlType.Q4_0)
        {
            WriteBlocks(t, type, rows, cols, output);
            return output;
        }

        float[] values = ReadFloats(t);
        if (role == TensorRole.LoraFactor)
        {
            values = Transpose(values, t.Shape[0], t.Shape[1]);
        }

        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(output);
                break;
            case GgmlType.BF16:
                BFloat16Conversions.FromSingle(values, MemoryMarshal.Cast<byte, ushort>(output.AsSpan()));
                break;
            default:
                Span<Half> halves = MemoryMarshal.Cast<byte, Half>(output.AsSpan());
                for (int i = 0; i < values.Length; i++)
                {
                    halves[i] = (Half)values[i];
                }

                break;
        }

        return output;
    }

    /// <summary>
    /// Q8_0 / Q4_0 rows (linear matrices only): this engine's packed rows (the file's own blocks when they convert
    /// exactly, else quantized from the values), each block written as its fp16 scale then its values.
    /// </summary>
    private static void WriteBlocks(CheckpointTensor t, GgmlType type, int rows, int cols, Span<byte> output)
    {
        bool q4 = type == GgmlType.Q4_0;
        TensorDType packed = q4 ? TensorDType.Q4 : TensorDType.Q8;
        int packedRowBytes = q4 ? Q4Block.RowBytes(cols) : Q8Block.RowBytes(cols);
        int valueBytes = q4 ? cols / 2 : cols, blockValueBytes = q4 ? Q4Block.PackedBytes : Q8Block.Size;
        int blocks = cols / GgmlTypes.SmallBlock;
        GgmlTypes.TryGetLayout(type, out _, out int blockBytes);
        byte[] row = new byte[packedRowBytes];
        float[] values = new float[cols];
        byte[] raw = new byte[cols * t.DType.SizeInBytes()];
        var exact = t as IBlockQuantizedTensor;
        for (int r = 0; r < rows; r++)
        {
            if (exact is not null && exact.PacksExactly(packed))
            {
                exact.ReadPackedRows(packed, r, 1, row);
            }
            else
            {
                t.ReadRowsTo(r, 1, raw);
                SafetensorsWriter.ConvertElements(raw, t.DType, MemoryMarshal.AsBytes(values.AsSpan()), TensorDType.F32);
                Span<float> rowScales = MemoryMarshal.Cast<byte, float>(row.AsSpan(valueBytes));
                if (q4)
                {
                    Q4Quantizer.QuantizeRow(values, row.AsSpan(0, valueBytes), rowScales);
                }
                else
                {
                    Q8Quantizer.QuantizeRow(values, MemoryMarshal.Cast<byte, sbyte>(row.AsSpan(0, valueBytes)), rowScales);
                }
            }

            if (q4)
            {
                // The engine's rows store blocks in groups (Q4Block); Q4_0 stores them one by one.
                Q4Block.Ungroup(row.AsSpan(0, valueBytes));
            }

            ReadOnlySpan<float> scales = MemoryMarshal.Cast<byte, float>(row.AsSpan(valueBytes, blocks * sizeof(float)));
            Span<byte> fileRow = output.Slice(r * blocks * blockBytes, blocks * blockBytes);
            for (int b = 0; b < blocks; b++)
            {
                Half d = (Half)scales[b];
                if (!Half.IsFinite(d))
                {
                    throw new RwkvException($"{t.Name}: a block scale of {scales[b]} does not fit the fp16 scale of {GgmlTypes.Name(type)}.");
                }

                Span<byte> block = fileRow.Slice(b * blockBytes, blockBytes);
                BinaryPrimitives.WriteHalfLittleEndian(block, d);
                row.AsSpan(b * blockValueBytes, blockValueBytes).CopyTo(block[sizeof(ushort)..]);
            }
        }
    }

    private static float[] ReadFloats(CheckpointTensor t)
    {
        byte[] raw = new byte[t.ByteLength];
        t.ReadTo(raw);
        float[] values = new float[t.ElementCount];
        SafetensorsWriter.ConvertElements(raw, t.DType, MemoryMarshal.AsBytes(values.AsSpan()), TensorDType.F32);
        return values;
    }

    // [rows, cols] → [cols, rows]
    private static float[] Transpose(float[] values, int rows, int cols)
    {
        float[] result = new float[values.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                result[(c * rows) + r] = values[(r * cols) + c];
            }
        }

        return result;
    }

    private static long Padded(long bytes) => GgufFile.AlignUp(bytes, Alignment);

    /// <summary>Magic, version, counts, metadata and tensor infos, padded to the alignment.</summary>
    private static byte[] Header(Checkpoint checkpoint, ModelShape shape, GgufWriteOptions options, List<Planned> tensors)
    {
        var kv = new KeyValueWriter();
        string arch = GgufRwkv7Names.Architecture;
        kv.String("general.architecture", arch);
        kv.String("general.type", "model");
        kv.String("general.name", options.Name ?? checkpoint.Gguf?.Name ?? Path.GetFileNameWithoutExtension(checkpoint.FilePath));
        kv.String("general.size_label", SizeLabel(tensors.Sum(t => t.Dims.Aggregate(1L, (n, d) => n * (long)d))));
        kv.UInt32($"{arch}.context_length", ContextLength);
        kv.UInt32($"{arch}.embedding_length", (uint)shape.Embedding);
        kv.UInt32($"{arch}.block_count", (uint)shape.Layers);
        kv.Float32($"{arch}.attention.layer_norm_epsilon", LayerNormEpsilon);
        kv.UInt32($"{arch}.wkv.head_size", (uint)shape.HeadSize);
        kv.UInt32($"{arch}.attention.decay_lora_rank", (uint)shape.DecayRank);
        kv.UInt32($"{arch}.attention.iclr_lora_rank", (uint)shape.IclrRank);
        kv.UInt32($"{arch}.attention.value_residual_mix_lora_rank", (uint)(shape.ValueRank > 0 ? shape.ValueRank : shape.IclrRank));
        kv.UInt32($"{arch}.attention.gate_lora_rank", (uint)shape.GateRank);
        kv.UInt32($"{arch}.feed_forward_length", (uint)shape.Ffn);
        kv.UInt32("general.file_type", FileType(tensors.First(t => t.Name == "blk.0.time_mix_key.weight").Type));
        kv.UInt32($"{arch}.attention.head_count", 0);
        kv.UInt32("general.quantization_version", QuantizationVersion);
        WriteVocabulary(kv, checkpoint, shape, options.Vocabulary);

        using var stream = new MemoryStream();
        var w = new BinaryWriter(stream);
        w.Write(GgufFile.Magic);
        w.Write(Version);
        w.Write((ulong)tensors.Count);
        w.Write((ulong)kv.Count);
        w.Write(kv.ToArray());
        ulong offset = 0;
        foreach (Planned t in tensors)
        {
            KeyValueWriter.WriteString(w, t.Name);
            w.Write((uint)t.Dims.Length);
            foreach (ulong d in t.Dims)
            {
                w.Write(d);
            }

            w.Write((uint)t.Type);
            w.Write(offset);
            offset += (ulong)Padded(t.Bytes);
        }

        w.Flush();
        while (stream.Length % Alignment != 0)
        {
            stream.WriteByte(0);
        }

        return stream.ToArray();
    }

    /// <summary>
    /// <c>general.size_label</c> as gguf-py writes it: the parameter count (every tensor written, placeholders
    /// included) in K, M, B or T with at least two significant digits, e.g. <c>834K</c>, <c>2.9M</c>, <c>0.19B</c>.
    /// </summary>
    internal static string SizeLabel(long parameters)
    {
        (double scaled, string suffix) = parameters switch
        {
            > 1_000_000_000_000 => (parameters * 1e-12, "T"),
            > 1_000_000_000 => (parameters * 1e-9, "B"),
            > 1_000_000 => (parameters * 1e-6, "M"),
            _ => (parameters * 1e-3, "K"),
        };
        int digits = Math.Round(scaled, MidpointRounding.ToEven).ToString(CultureInfo.InvariantCulture).TrimStart('0').Length;
        int decimals = Math.Max(2 - digits, 0);
        return scaled.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) + suffix;
    }

    /// <summary>llama.cpp's <c>llama_ftype</c> for a file whose product matrices have <paramref name="type"/>.</summary>
    private static uint FileType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.Q4_0 => 2,
        GgmlType.Q8_0 => 7,
        _ => 32, // BF16
    };

    /// <summary>
    /// The token list llama.cpp's converter writes for RWKV: byte models the 256 single bytes; World models
    /// <c>&lt;s&gt;</c> (control) at id 0, each token's bytes escaped as Python writes bytes, <c>[PADn]</c> (unused)
    /// for ids without bytes, <c>\n\n</c> as end of turn and the <c>rwkv-world</c> chat template.
    /// </summary>
    private static void WriteVocabulary(KeyValueWriter kv, Checkpoint checkpoint, ModelShape shape, RwkvTokenizer? vocabulary)
    {
        bool bytes = shape.Vocab == ByteTokenizer.ByteVocabularySize && vocabulary is null;
        RwkvTokenizer? world = bytes ? null
            : vocabulary ?? (checkpoint.Gguf is { HasWorldVocabulary: true } g ? g.CreateWorldTokenizer() : null)
            ?? throw new RwkvException(
                $"{checkpoint.FilePath}: a model with a {shape.Vocab}-token vocabulary needs its World vocabulary to be written to GGUF (llama.cpp refuses a file without one).");
        if (world is not null && world.VocabularySize > shape.Vocab)
        {
            throw new RwkvException($"The vocabulary has ids up to {world.VocabularySize - 1}, but the model has only {shape.Vocab} logits.");
        }

        var tokens = new List<string>(shape.Vocab);
        var types = new List<int>(shape.Vocab);
        for (int id = 0; id < shape.Vocab; id++)
        {
            ReadOnlySpan<byte> token = world is null ? [(byte)id] : id < world.VocabularySize ? world.GetTokenBytes(id) : [];
            (string text, int type) = !token.IsEmpty ? (Escape(token), NormalToken)
                : id == 0 ? ("<s>", ControlToken)
                : ($"[PAD{id.ToString(CultureInfo.InvariantCulture)}]", UnusedToken);
            tokens.Add(text);
            types.Add(type);
        }

        kv.String("tokenizer.ggml.model", GgufModelInfo.RwkvTokenizerModel);
        kv.StringArray("tokenizer.ggml.tokens", tokens);
        kv.Int32Array("tokenizer.ggml.token_type", types);
        if (world is null)
        {
            return;
        }

        int[] turnEnd = new int[2];
        if (world.EncodeUtf8("\n\n"u8, turnEnd) == 1)
        {
            kv.UInt32("tokenizer.ggml.eot_token_id", (uint)turnEnd[0]);
        }

        kv.UInt32("tokenizer.ggml.bos_token_id", 0);
        kv.UInt32("tokenizer.ggml.eos_token_id", 0);

        kv.String("tokenizer.chat_template", checkpoint.Gguf?.ChatTemplate ?? "rwkv-world");
    }

    /// <summary>
    /// A token's bytes as Python's <c>repr(bytes)</c> writes them, without the <c>b'…'</c>: printable ASCII as itself,
    /// <c>\\</c>, <c>\t</c>, <c>\n</c>, <c>\r</c>, <c>\'</c> when single quotes delimit it (Python uses double quotes for
    /// bytes holding <c>'</c> but no <c>"</c>), every other byte as <c>\x</c> and two lowercase hex digits.
    /// </summary>
    internal static string Escape(ReadOnlySpan<byte> token)
    {
        bool singleQuoted = token.IndexOf((byte)'\'') < 0 || token.IndexOf((byte)'"') >= 0;
        var sb = new StringBuilder(token.Length);
        foreach (byte b in token)
        {
            switch (b)
            {
                case (byte)'\\': sb.Append(@"\\"); break;
                case (byte)'\t': sb.Append(@"\t"); break;
                case (byte)'\n': sb.Append(@"\n"); break;
                case (byte)'\r': sb.Append(@"\r"); break;
                case (byte)'\'' when singleQuoted: sb.Append(@"\'"); break;
                case >= 0x20 and < 0x7f: sb.Append((char)b); break;
                default: sb.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}"); break;
            }
        }

        return sb.ToString();
    }

    /// <summary>Builds the metadata section: each pair as a GGUF string key, a uint32 value type and the value.</summary>
    private sealed class KeyValueWriter
    {
        private readonly MemoryStream _stream = new();
        private readonly BinaryWriter _w;

        public KeyValueWriter() => _w = new BinaryWriter(_stream);

        public int Count { get; private set; }

        public void String(string key, string value)
        {
            Key(key, GgufValueType.String);
            WriteString(_w, value);
        }

        public void UInt32(string key, uint value)
        {
            Key(key, GgufValueType.UInt32);
            _w.Write(value);
        }

        public void Float32(string key, float value)
        {
            Key(key, GgufValueType.Float32);
            _w.Write(value);
        }

        public void StringArray(string key, List<string> values)
        {
            Key(key, GgufValueType.Array);
            _w.Write((uint)GgufValueType.String);
            _w.Write((ulong)values.Count);
            foreach (string v in values)
            {
                WriteString(_w, v);
            }
        }

        public void Int32Array(string key, List<int> values)
        {
            Key(key, GgufValueType.Array);
            _w.Write((uint)GgufValueType.Int32);
            _w.Write((ulong)values.Count);
            foreach (int v in values)
            {
                _w.Write(v);
            }
        }

        public byte[] ToArray()
        {
            _w.Flush();
            return _stream.ToArray();
        }

        public static void WriteString(BinaryWriter w, string value)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(value);
            w.Write((ulong)utf8.Length);
            w.Write(utf8);
        }

        private void Key(string key, GgufValueType type)
        {
            WriteString(_w, key);
            _w.Write((uint)type);
            Count++;
        }
    }
}
