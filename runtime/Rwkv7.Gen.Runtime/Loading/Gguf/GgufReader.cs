using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Rwkv7.Gen.Loading.Gguf;

/// <summary>
/// Reads GGUF files of the <c>rwkv7</c> architecture (llama.cpp / ollama) and undoes the converter's changes so that
/// callers see canonical RWKV-LM tensors (<see cref="GgufRwkv7Names"/>): the fused token-shift tensor is split into its
/// six vectors, LoRA factors are transposed back, squeezed vectors reshaped, <c>r_k</c> reshaped per head and layer 0's
/// value-residual placeholders dropped. Plain tensors (F32, F16, BF16) are read as stored; block-quantized ones are
/// decoded exactly (<see cref="GgufBlockTensor"/>). Names the architecture does not have are kept under their GGUF
/// names, so that shape validation lists them with every other problem.
/// </summary>
internal static class GgufReader
{
    private const string ArchitectureKey = "general.architecture";

    /// <summary>Head size when the file does not say (every RWKV-7 model uses 64).</summary>
    private const int DefaultHeadSize = ModelShape.SupportedHeadSize;

    public static IReadOnlyList<CheckpointTensor> ReadTensors(string path, SafeFileHandle handle, long fileLength, out GgufModelInfo info)
    {
        GgufFile file = GgufFile.Read(path, handle, fileLength);
        string architecture = file.Metadata.String(ArchitectureKey)
            ?? throw new RwkvFormatException(path, $"metadata key '{ArchitectureKey}' is missing; expected \"{GgufRwkv7Names.Architecture}\"");
        if (architecture != GgufRwkv7Names.Architecture)
        {
            throw new RwkvFormatException(
                path, $"the GGUF architecture is \"{architecture}\"; Rwkv7.Gen runs RWKV-7 models (architecture \"{GgufRwkv7Names.Architecture}\") only");
        }

        int headSize = (int)Math.Min(file.Metadata.Count(Key("wkv.head_size")) ?? DefaultHeadSize, int.MaxValue);
        if (headSize == 0)
        {
            throw new RwkvFormatException(path, $"metadata key '{Key("wkv.head_size")}' is 0; expected the head size ({DefaultHeadSize})");
        }

        var tensors = new List<CheckpointTensor>(file.Tensors.Count + 8);
        var summaries = new List<GgufTensorSummary>(file.Tensors.Count);
        foreach (GgufTensorInfo t in file.Tensors)
        {
            if (!GgufRwkv7Names.TryMap(t.Name, out string canonical, out GgufChange change, out _))
            {
                // Unknown to RWKV-7: listed as an unexpected tensor by shape validation, never read.
                tensors.Add(Region(path, handle, t.Name, Reversed(t.Dims), t));
                summaries.Add(new GgufTensorSummary(t.Name, null, t.Type, t.Dims));
                continue;
            }

            summaries.Add(new GgufTensorSummary(t.Name, change == GgufChange.Placeholder ? null : canonical, t.Type, t.Dims));
            AddCanonical(path, handle, t, canonical, change, headSize, tensors);
        }

        CheckMetadataAgainstTensors(path, file.Metadata, tensors);
        info = GgufModelInfo.From(path, file, architecture, summaries);
        return tensors;
    }

    /// <summary>Adds the canonical tensor(s) a GGUF tensor stands for.</summary>
    private static void AddCanonical(
        string path, SafeFileHandle handle, GgufTensorInfo t, string canonical, GgufChange change, int headSize, List<CheckpointTensor> tensors)
    {
        long count = t.Rows * t.RowLength;
        switch (change)
        {
            case GgufChange.Placeholder:
                return;
            case GgufChange.FusedShift when t.Rows == CanonicalTensors.TimeMixShiftNames.Length:
                // [C, 1, 1, 6]: six rows of C → x_r, x_w, x_k, x_v, x_a, x_g, each (1, 1, C), consecutive rows of the region.
                string prefix = canonical[..^"x_".Length];
                for (int i = 0; i < CanonicalTensors.TimeMixShiftNames.Length; i++)
                {
                    tensors.Add(Slice(path, handle, prefix + CanonicalTensors.TimeMixShiftNames[i], [1, 1, t.RowLength], t, i));
                }

                return;
            case GgufChange.FusedShift:
                // Not six rows: kept under its GGUF name, so that validation reports it and the six missing mixes.
                tensors.Add(Region(path, handle, t.Name, Reversed(t.Dims), t));
                return;
            case GgufChange.Transposed when t.Dims.Length == 2:
                tensors.Add(Transposed(path, handle, canonical, t));
                return;
            case GgufChange.MixVector when count <= int.MaxValue:
                tensors.Add(Region(path, handle, canonical, [1, 1, (int)count], t));
                return;
            case GgufChange.PlainVector when count <= int.MaxValue:
                tensors.Add(Region(path, handle, canonical, [(int)count], t));
                return;
            case GgufChange.PerHead when count % headSize == 0 && count <= int.MaxValue:
                tensors.Add(Region(path, handle, canonical, [(int)(count / headSize), headSize], t));
                return;
            default:
                // Matrices as stored, and any tensor whose dimensions do not fit its change: validation compares the
                // stored shape with the expected one and reports the difference.
                tensors.Add(Region(path, handle, canonical, Reversed(t.Dims), t));
                return;
        }
    }

    /// <summary>The tensor's values in stored order under <paramref name="shape"/> (same element count).</summary>
    private static CheckpointTensor Region(string path, SafeFileHandle handle, string name, int[] shape, GgufTensorInfo t) =>
        PlainType(t.Type) is { } dtype
            ? new FileRegionTensor(path, handle, name, shape, dtype, t.DataOffset)
            : new GgufBlockTensor(path, handle, name, shape, t.Type, t.DataOffset, checked((int)t.Rows), t.RowLength, transposed: false);

    /// <summary>Stored row <paramref name="row"/> alone, as <paramref name="shape"/>.</summary>
    private static CheckpointTensor Slice(string path, SafeFileHandle handle, string name, int[] shape, GgufTensorInfo t, int row) =>
        PlainType(t.Type) is { } dtype
            ? new FileRegionTensor(path, handle, name, shape, dtype, t.DataOffset + (row * t.RowBytes))
            : new GgufBlockTensor(path, handle, name, shape, t.Type, t.DataOffset + (row * t.RowBytes), 1, t.RowLength, transposed: false);

    /// <summary>A 2-D tensor stored as dims [in, out] (out rows of in values) whose canonical form is (in, out).</summary>
    private static CheckpointTensor Transposed(string path, SafeFileHandle handle, string name, GgufTensorInfo t) =>
        PlainType(t.Type) is { } dtype
            ? new TransposedFileTensor(path, handle, name, [t.Dims[1], t.Dims[0]], dtype, t.DataOffset)
            : new GgufBlockTensor(path, handle, name, [t.Dims[0], t.Dims[1]], t.Type, t.DataOffset, t.Dims[1], t.Dims[0], transposed: true);

    private static TensorDType? PlainType(GgmlType type) => type switch
    {
        GgmlType.F32 => TensorDType.F32,
        GgmlType.F16 => TensorDType.F16,
        GgmlType.BF16 => TensorDType.BF16,
        _ => null,
    };

    private static int[] Reversed(int[] dims)
    {
        int[] shape = (int[])dims.Clone();
        Array.Reverse(shape);
        return shape;
    }

    private static string Key(string suffix) => $"{GgufRwkv7Names.Architecture}.{suffix}";

    /// <summary>
    /// The model numbers the metadata states must agree with the tensors: a file whose last block is missing would
    /// otherwise load as a shallower model. Every disagreement is listed in one error.
    /// </summary>
    private static void CheckMetadataAgainstTensors(string path, GgufMetadata metadata, List<CheckpointTensor> tensors)
    {
        var problems = new List<string>();
        int blocks = 0;
        CheckpointTensor? embedding = null, ffnKey = null;
        foreach (CheckpointTensor t in tensors)
        {
            if (t.Name.StartsWith("blocks.", StringComparison.Ordinal) && t.Name.IndexOf('.', 7) is int dot and > 7
                && int.TryParse(t.Name.AsSpan(7, dot - 7), NumberStyles.None, CultureInfo.InvariantCulture, out int b))
            {
                blocks = Math.Max(blocks, b + 1);
            }

            embedding = t.Name == "emb.weight" ? t : embedding;
            ffnKey = t.Name == "blocks.0.ffn.key.weight" ? t : ffnKey;
        }

        Compare(Key("block_count"), blocks, "the tensors cover {0} blocks");
        if (embedding is { Shape.Count: 2 })
        {
            Compare(Key("embedding_length"), embedding.Shape[1], "token_embd.weight has rows of {0}");
        }

        if (ffnKey is { Shape.Count: 2 })
        {
            Compare(Key("feed_forward_length"), ffnKey.Shape[0], "blk.0.channel_mix_key.weight has {0} rows");
        }

        if (problems.Count > 0)
        {
            throw new RwkvFormatException(path, "the metadata contradicts the tensors: " + string.Join("; ", problems));
        }

        void Compare(string key, long actual, string what)
        {
            if (metadata.Count(key) is long stated && stated != actual)
            {
                problems.Add($"'{key}' says {stated} but {string.Format(CultureInfo.InvariantCulture, what, actual)}");
            }
        }
    }
}
