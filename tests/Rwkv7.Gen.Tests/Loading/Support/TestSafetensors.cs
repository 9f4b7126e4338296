using System.Buffers.Binary;
using System.Text;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Tests.Loading.Support;

/// <summary>One tensor to write: canonical name, dtype name as safetensors spells it, shape, raw bytes.</summary>
public sealed record SafetensorsItem(string Name, string DType, int[] Shape, byte[] Data);

/// <summary>Writes safetensors files, well-formed from items or with a hand-written (lying) header.</summary>
public static class TestSafetensors
{
    public static byte[] Write(IEnumerable<SafetensorsItem> items)
    {
        var json = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        var data = new MemoryStream();
        foreach (SafetensorsItem item in items)
        {
            long begin = data.Length;
            data.Write(item.Data);
            json.Append($",\"{item.Name}\":{{\"dtype\":\"{item.DType}\",\"shape\":[{string.Join(",", item.Shape)}],\"data_offsets\":[{begin},{data.Length}]}}");
        }

        json.Append('}');
        return WithHeader(json.ToString(), data.ToArray());
    }

    /// <summary>An 8-byte length, the JSON padded with spaces to a multiple of 8, then the data.</summary>
    public static byte[] WithHeader(string json, byte[] data)
    {
        byte[] header = Encoding.UTF8.GetBytes(json);
        int padded = (header.Length + 7) / 8 * 8;
        byte[] file = new byte[8 + padded + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)padded);
        file.AsSpan(8, padded).Fill((byte)' ');
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + padded);
        return file;
    }

    /// <summary>Every tensor of a checkpoint, as items to rewrite.</summary>
    public static List<SafetensorsItem> ReadAll(string path)
    {
        using Checkpoint checkpoint = Checkpoint.Open(path);
        var items = new List<SafetensorsItem>();
        foreach (CheckpointTensor t in checkpoint.Tensors)
        {
            byte[] bytes = new byte[t.ByteLength];
            t.ReadTo(bytes);
            string dtype = t.DType switch
            {
                TensorDType.F32 => "F32",
                TensorDType.F16 => "F16",
                _ => "BF16",
            };
            items.Add(new SafetensorsItem(t.Name, dtype, [.. t.Shape], bytes));
        }

        return items;
    }
}
