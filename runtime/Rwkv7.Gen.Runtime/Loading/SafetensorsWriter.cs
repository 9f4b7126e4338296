using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Rwkv7.Gen.IO;

namespace Rwkv7.Gen.Loading;

/// <summary>
/// Writes an RWKV-7 checkpoint as safetensors: canonical names, in canonical (RWKV-LM <c>state_dict</c>) order,
/// matrices in a chosen precision (or kept as stored), vectors in fp32. Tensors are streamed one at a time, and the
/// file is written under a temporary name and renamed into place only once complete and flushed, so a failure never
/// leaves a partial file where the output should be.
/// </summary>
public static class SafetensorsWriter
{
    private const int HeaderAlignment = 8;

    /// <summary>Converts <paramref name="checkpoint"/> to a safetensors file at <paramref name="outputPath"/>.</summary>
    /// <param name="checkpoint">An opened checkpoint; its tensors are validated against the detected shape first.</param>
    /// <param name="outputPath">Destination; replaced atomically if it exists.</param>
    /// <param name="matrixType">Element type for matrices (2-D tensors), or null to keep each as stored.</param>
    /// <param name="progress">Receives the fraction of tensor bytes written.</param>
    /// <returns>The shape of the written model.</returns>
    public static ModelShape Write(Checkpoint checkpoint, string outputPath, TensorDType? matrixType = null, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(outputPath);
        ModelShape shape = Weights.ShapeDetection.DetectAndValidate(checkpoint);
        var plan = new List<(CanonicalTensor Tensor, CheckpointTensor Source, TensorDType Type, long Begin, long End)>();
        long offset = 0;
        foreach (CanonicalTensor t in CanonicalTensors.For(shape))
        {
            CheckpointTensor source = checkpoint.Find(t.Name)!;
            TensorDType type = t.Role == TensorRole.Vector ? TensorDType.F32 : matrixType ?? source.DType;
            long bytes = t.ElementCount * type.SizeInBytes();
            plan.Add((t, source, type, offset, offset + bytes));
            offset += bytes;
        }

        byte[] header = BuildHeader(plan.Select(p => (p.Tensor, p.Type, p.Begin, p.End)), checkpoint);
        string full = Path.GetFullPath(outputPath);
        string temp = AtomicFile.TemporaryPathFor(full);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                stream.Write(length);
                stream.Write(header);
                byte[] source = [];
                byte[] target = [];
                long written = 0;
                foreach ((CanonicalTensor tensor, CheckpointTensor from, TensorDType type, long begin, long end) in plan)
                {
                    int sourceBytes = checked((int)from.ByteLength);
                    int targetBytes = checked((int)(end - begin));
                    if (source.Length < sourceBytes)
                    {
                        source = new byte[sourceBytes];
                    }

                    from.ReadTo(source.AsSpan(0, sourceBytes));
                    if (from.DType == type)
                    {
                        stream.Write(source, 0, sourceBytes);
                    }
                    else
                    {
                        if (target.Length < targetBytes)
                        {
                            target = new byte[targetBytes];
                        }

                        ConvertElements(source.AsSpan(0, sourceBytes), from.DType, target.AsSpan(0, targetBytes), type);
                        stream.Write(target, 0, targetBytes);
                    }

                    written += targetBytes;
                    progress?.Report((double)written / Math.Max(1, offset));
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

    /// <summary>Converts elements between the supported element types (through fp32; bf16 rounds to nearest even).</summary>
    public static void ConvertElements(ReadOnlySpan<byte> source, TensorDType from, Span<byte> destination, TensorDType to)
    {
        int count = source.Length / from.SizeInBytes();
        if (destination.Length != count * to.SizeInBytes())
        {
            throw new ArgumentException("Destination size does not match the element count.", nameof(destination));
        }

        for (int i = 0; i < count; i++)
        {
            float value = from switch
            {
                TensorDType.F32 => MemoryMarshal.Cast<byte, float>(source)[i],
                TensorDType.BF16 => BFloat16Conversions.ToSingle(MemoryMarshal.Cast<byte, ushort>(source)[i]),
                _ => (float)MemoryMarshal.Cast<byte, Half>(source)[i],
            };
            switch (to)
            {
                case TensorDType.F32: MemoryMarshal.Cast<byte, float>(destination)[i] = value; break;
                case TensorDType.BF16: MemoryMarshal.Cast<byte, ushort>(destination)[i] = BFloat16Conversions.FromSingle(value); break;
                default: MemoryMarshal.Cast<byte, Half>(destination)[i] = (Half)value; break;
            }
        }
    }

    private static byte[] BuildHeader(IEnumerable<(CanonicalTensor Tensor, TensorDType Type, long Begin, long End)> plan, Checkpoint checkpoint)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            w.WriteString("format", "pt");
            w.WriteString("converted_by", "Rwkv7.Gen");
            w.WriteString("source_format", checkpoint.Format.ToString());
            w.WriteString("source_file", Path.GetFileName(checkpoint.FilePath));
            w.WriteEndObject();
            foreach ((CanonicalTensor tensor, TensorDType type, long begin, long end) in plan)
            {
                w.WriteStartObject(tensor.Name);
                w.WriteString("dtype", type switch { TensorDType.F32 => "F32", TensorDType.BF16 => "BF16", _ => "F16" });
                w.WriteStartArray("shape");
                foreach (int d in tensor.Shape)
                {
                    w.WriteNumberValue(d);
                }

                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(begin);
                w.WriteNumberValue(end);
                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        // Pad with spaces so the data starts 8-byte aligned, as the format recommends.
        int length = (int)stream.Length;
        int padded = (length + HeaderAlignment - 1) / HeaderAlignment * HeaderAlignment;
        byte[] header = new byte[padded];
        stream.ToArray().CopyTo(header, 0);
        header.AsSpan(length).Fill((byte)' ');
        return header;
    }
}
