using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Rwkv7.Gen.Loading;

/// <summary>
/// Reads rwkv.cpp <c>.bin</c> model files (versions 100 and 101, FP32 and FP16) and undoes the rwkv.cpp
/// converter's v7 changes so that callers see canonical RWKV-LM tensors: dimensions are stored innermost first
/// (reversed here), the six token-shift mixes are merged into <c>att.x_rwkvag</c> (split here) and the LoRA
/// factors are transposed (transposed back here). Layout: a header of six little-endian int32 (magic, version,
/// n_vocab, n_embed, n_layer, data type), then until the end of the file one record per tensor: int32 dim count,
/// int32 name length, int32 data type, the dims, the UTF-8 name, the raw data.
/// </summary>
internal static class RwkvCppReader
{
    /// <summary>The file magic, 'ggmf' as a little-endian int32.</summary>
    public const uint Magic = 0x67676d66;

    /// <summary>Most dimensions a tensor may have (ggml's limit).</summary>
    public const int MaxDims = 4;

    /// <summary>Longest tensor name accepted, in bytes (canonical names are under 40).</summary>
    public const int MaxNameBytes = 1024;

    // Header: six int32 fields, in this order.
    private const int HeaderInts = 6;
    private const int HeaderSize = HeaderInts * sizeof(int);
    private const int MagicField = 0;
    private const int VersionField = 1;
    private const int VocabField = 2;
    private const int EmbedField = 3;
    private const int LayersField = 4;
    private const int DataTypeField = 5;

    // Record header: int32 dim count, name length, data type.
    private const int RecordHeaderSize = 3 * sizeof(int);
    private const int RecordNameLengthOffset = sizeof(int);
    private const int RecordDataTypeOffset = 2 * sizeof(int);
    private const int FirstVersion = 100;
    private const int LastVersion = 101;

    /// <summary>rwkv.cpp data types: 0 FP32, 1 FP16, 2 to 9 the quantized formats (some retired).</summary>
    private const int TypeFp32 = 0;
    private const int TypeFp16 = 1;
    private const int LastQuantizedType = 9;

    private const string BlockPrefix = "blocks.";
    private const string MergedShiftSuffix = ".att.x_rwkvag";
    private const int MergedShiftCount = 6;

    /// <summary>Tensors the converter stores transposed (canonical (C, r) LoRA factors stored as (r, C) and so on).</summary>
    private static readonly string[] TransposedSuffixes =
        [".att.w1", ".att.w2", ".att.a1", ".att.a2", ".att.v1", ".att.v2", ".att.g1", ".att.g2"];

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static IReadOnlyList<CheckpointTensor> ReadTensors(string path, SafeFileHandle handle, long fileLength)
    {
        Header header = ReadHeader(path, handle, fileLength);
        var tensors = new List<CheckpointTensor>();
        long pos = HeaderSize;
        int index = 0;
        while (pos < fileLength)
        {
            pos = ReadRecord(path, handle, fileLength, pos, index++, tensors);
        }

        CheckHeaderAgainstTensors(path, header, tensors);
        return tensors;
    }

    /// <summary>The header's model numbers.</summary>
    private readonly record struct Header(int Vocab, int Embedding, int Layers);

    private static Header ReadHeader(string path, SafeFileHandle handle, long fileLength)
    {
        if (fileLength < HeaderSize)
        {
            throw new RwkvFormatException(path, $"file is {fileLength} bytes long, shorter than the {HeaderSize}-byte rwkv.cpp header", 0);
        }

        Span<byte> bytes = stackalloc byte[HeaderSize];
        FileReading.ReadExactly(path, handle, bytes, 0, "the rwkv.cpp header");
        Span<int> h = stackalloc int[HeaderInts];
        for (int i = 0; i < HeaderInts; i++)
        {
            h[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes[(i * sizeof(int))..]);
        }

        if ((uint)h[MagicField] != Magic)
        {
            throw new RwkvFormatException(path, $"bad rwkv.cpp magic 0x{(uint)h[MagicField]:x8}; expected 0x{Magic:x8}", 0);
        }

        if (h[VersionField] is < FirstVersion or > LastVersion)
        {
            throw new RwkvFormatException(
                path, $"rwkv.cpp file version {h[VersionField]} is not supported (only {FirstVersion} and {LastVersion})", VersionField * sizeof(int));
        }

        if (h[VocabField] <= 0 || h[EmbedField] <= 0 || h[LayersField] <= 0)
        {
            throw new RwkvFormatException(
                path,
                $"the header's n_vocab {h[VocabField]}, n_embed {h[EmbedField]} and n_layer {h[LayersField]} must all be positive",
                VocabField * sizeof(int));
        }

        if (h[DataTypeField] is < TypeFp32 or > LastQuantizedType)
        {
            throw new RwkvFormatException(
                path, $"the header's data type {h[DataTypeField]} is not an rwkv.cpp data type", DataTypeField * sizeof(int));
        }

        return new Header(h[VocabField], h[EmbedField], h[LayersField]);
    }

    /// <summary>Reads one tensor record at <paramref name="pos"/>; returns the position after it.</summary>
    private static long ReadRecord(string path, SafeFileHandle handle, long fileLength, long pos, int index, List<CheckpointTensor> tensors)
    {
        if (fileLength - pos < RecordHeaderSize)
        {
            throw new RwkvFormatException(path, $"the file ends inside the header of tensor #{index}", pos);
        }

        Span<byte> fields = stackalloc byte[RecordHeaderSize];
        FileReading.ReadExactly(path, handle, fields, pos, $"the header of tensor #{index}");
        int dimCount = BinaryPrimitives.ReadInt32LittleEndian(fields);
        int nameLength = BinaryPrimitives.ReadInt32LittleEndian(fields[RecordNameLengthOffset..]);
        int type = BinaryPrimitives.ReadInt32LittleEndian(fields[RecordDataTypeOffset..]);
        if (dimCount is < 1 or > MaxDims)
        {
            throw new RwkvFormatException(path, $"tensor #{index} claims {dimCount} dimensions; rwkv.cpp tensors have 1 to {MaxDims}", pos);
        }

        if (nameLength is < 1 or > MaxNameBytes)
        {
            throw new RwkvFormatException(path, $"tensor #{index} claims a name of {nameLength} bytes; names have 1 to {MaxNameBytes}", pos + RecordNameLengthOffset);
        }

        long dimsAt = pos + RecordHeaderSize;
        int rest = (dimCount * sizeof(int)) + nameLength;
        if (fileLength - dimsAt < rest)
        {
            throw new RwkvFormatException(path, $"the file ends inside the dimensions or name of tensor #{index}", dimsAt);
        }

        Span<byte> dimsAndName = stackalloc byte[(MaxDims * sizeof(int)) + MaxNameBytes];
        dimsAndName = dimsAndName[..rest];
        FileReading.ReadExactly(path, handle, dimsAndName, dimsAt, $"the dimensions and name of tensor #{index}");
        string name = DecodeName(path, dimsAndName[(dimCount * sizeof(int))..], index, dimsAt + (dimCount * sizeof(int)));

        // Stored innermost first: reverse into PyTorch order while checking.
        int[] shape = new int[dimCount];
        long count = 1;
        for (int i = 0; i < dimCount; i++)
        {
            int d = BinaryPrimitives.ReadInt32LittleEndian(dimsAndName[(i * sizeof(int))..]);
            if (d <= 0)
            {
                throw new RwkvFormatException(path, $"tensor '{name}' has a dimension of size {d}", dimsAt + (i * sizeof(int)));
            }

            shape[dimCount - 1 - i] = d;
            count = count > long.MaxValue / d ? long.MaxValue : count * d;
        }

        TensorDType dtype = type switch
        {
            TypeFp32 => TensorDType.F32,
            TypeFp16 => TensorDType.F16,
            > TypeFp16 and <= LastQuantizedType => throw new RwkvFormatException(
                path, $"tensor '{name}' has rwkv.cpp data type {type}: quantized rwkv.cpp types are not supported (use an FP32 or FP16 file)", pos + RecordDataTypeOffset),
            _ => throw new RwkvFormatException(path, $"tensor '{name}' has data type {type}, which rwkv.cpp does not define", pos + RecordDataTypeOffset),
        };

        long dataAt = dimsAt + rest;
        long byteLength = count > long.MaxValue / dtype.SizeInBytes() ? long.MaxValue : count * dtype.SizeInBytes();
        if (byteLength > fileLength - dataAt)
        {
            throw new RwkvFormatException(
                path,
                $"the file ends inside the data of tensor '{name}' {CheckpointTensor.FormatShape(shape)} ({byteLength} bytes needed, {fileLength - dataAt} left)",
                dataAt);
        }

        AddCanonical(path, handle, name, shape, dtype, dataAt, tensors);
        return dataAt + byteLength;
    }

    private static string DecodeName(string path, ReadOnlySpan<byte> bytes, int index, long offset)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new RwkvFormatException(path, $"the name of tensor #{index} is not valid UTF-8", offset, e);
        }
    }

    /// <summary>Adds the canonical tensor(s) a stored one stands for.</summary>
    private static void AddCanonical(
        string path, SafeFileHandle handle, string name, int[] shape, TensorDType dtype, long offset, List<CheckpointTensor> tensors)
    {
        if (name.StartsWith(BlockPrefix, StringComparison.Ordinal) && name.EndsWith(MergedShiftSuffix, StringComparison.Ordinal))
        {
            // (6, 1, C) → x_r, x_w, x_k, x_v, x_a, x_g, each (1, 1, C): consecutive slices of the region.
            if (shape is not [MergedShiftCount, 1, int channels])
            {
                throw new RwkvFormatException(
                    path, $"tensor '{name}' is {CheckpointTensor.FormatShape(shape)}; expected (6, 1, C), the six token-shift mixes", offset);
            }

            string prefix = name[..^"x_rwkvag".Length];
            long sliceBytes = (long)channels * dtype.SizeInBytes();
            for (int i = 0; i < MergedShiftCount; i++)
            {
                tensors.Add(new FileRegionTensor(
                    path, handle, prefix + CanonicalTensors.TimeMixShiftNames[i], [1, 1, channels], dtype, offset + (i * sliceBytes)));
            }

            return;
        }

        if (shape.Length == 2 && IsTransposed(name))
        {
            tensors.Add(new TransposedFileTensor(path, handle, name, shape, dtype, offset));
            return;
        }

        tensors.Add(new FileRegionTensor(path, handle, name, shape, dtype, offset));
    }

    private static bool IsTransposed(string name)
    {
        if (!name.StartsWith(BlockPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        foreach (string suffix in TransposedSuffixes)
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Cheap consistency checks between the header's numbers and the tensors.</summary>
    private static void CheckHeaderAgainstTensors(string path, Header header, List<CheckpointTensor> tensors)
    {
        int lastBlock = -1;
        foreach (CheckpointTensor t in tensors)
        {
            if (t.Name is "emb.weight" or "head.weight"
                && (t.Shape.Count != 2 || t.Shape[0] != header.Vocab || t.Shape[1] != header.Embedding))
            {
                throw new RwkvFormatException(
                    path, $"tensor '{t.Name}' is {t.ShapeText} but the header says n_vocab {header.Vocab} and n_embed {header.Embedding}");
            }

            if (BlockIndex(t.Name) is int block)
            {
                if (block >= header.Layers)
                {
                    throw new RwkvFormatException(path, $"tensor '{t.Name}' belongs to block {block} but the header says n_layer {header.Layers}");
                }

                lastBlock = Math.Max(lastBlock, block);
            }
        }

        if (lastBlock + 1 != header.Layers)
        {
            throw new RwkvFormatException(path, $"the header says n_layer {header.Layers} but the tensors cover {lastBlock + 1} blocks");
        }
    }

    private static int? BlockIndex(string name)
    {
        if (!name.StartsWith(BlockPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        int end = name.IndexOf('.', BlockPrefix.Length);
        return end > BlockPrefix.Length
            && int.TryParse(name.AsSpan(BlockPrefix.Length, end - BlockPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            ? index
            : null;
    }
}
