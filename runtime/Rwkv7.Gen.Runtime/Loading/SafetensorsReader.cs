using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Rwkv7.Gen.Loading;

/// <summary>
/// Reads the safetensors container: an 8-byte little-endian header length n, n bytes of JSON mapping tensor
/// names to <c>{dtype, shape, data_offsets}</c>, then the data. Offsets are relative to the first data byte.
/// Every entry is checked against the file before any data is read.
/// </summary>
internal static class SafetensorsReader
{
    /// <summary>Upper bound on the JSON header, as in the reference implementation (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public static IReadOnlyList<CheckpointTensor> ReadTensors(string path, SafeFileHandle handle, long fileLength)
    {
        Span<byte> lengthBytes = stackalloc byte[8];
        FileReading.ReadExactly(path, handle, lengthBytes, 0, "the safetensors header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes || headerLength > (ulong)(fileLength - 8))
        {
            throw new RwkvFormatException(
                path, $"safetensors header claims {headerLength} bytes but the file has {fileLength - 8} after the length field", 0);
        }

        byte[] json = new byte[headerLength];
        FileReading.ReadExactly(path, handle, json, 8, "the safetensors header");
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        var tensors = new List<CheckpointTensor>();
        var regions = new List<(long Begin, long End, string Name)>();
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new RwkvFormatException(path, "safetensors header is not a JSON object", 8);
            }

            foreach (JsonProperty entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                {
                    continue;
                }

                CheckpointTensor tensor = ParseEntry(path, handle, entry, dataStart, dataLength, out long begin, out long end);
                tensors.Add(tensor);
                regions.Add((begin, end, entry.Name));
            }
        }
        catch (JsonException e)
        {
            throw new RwkvFormatException(path, $"safetensors header is not valid JSON: {e.Message}", 8, e);
        }
        catch (OverflowException e)
        {
            throw new RwkvFormatException(path, "safetensors header describes a tensor too large to exist", 8, e);
        }

        regions.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        for (int i = 1; i < regions.Count; i++)
        {
            if (regions[i].Begin < regions[i - 1].End)
            {
                throw new RwkvFormatException(
                    path, $"tensors '{regions[i - 1].Name}' and '{regions[i].Name}' overlap in the data section", dataStart + regions[i].Begin);
            }
        }

        return tensors;
    }

    private static CheckpointTensor ParseEntry(
        string path, SafeFileHandle handle, JsonProperty entry, long dataStart, long dataLength, out long begin, out long end)
    {
        string name = entry.Name;
        JsonElement e = entry.Value;
        if (e.ValueKind != JsonValueKind.Object
            || !e.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !e.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !e.TryGetProperty("data_offsets", out JsonElement offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
        {
            throw new RwkvFormatException(path, $"safetensors entry '{name}' must have a string dtype, a shape array and two data_offsets");
        }

        string dtypeName = dtypeElement.GetString()!;
        TensorDType dtype = dtypeName switch
        {
            "F32" => TensorDType.F32,
            "F16" => TensorDType.F16,
            "BF16" => TensorDType.BF16,
            _ => throw new RwkvFormatException(path, $"tensor '{name}' has dtype {dtypeName}; supported: F32, F16, BF16"),
        };

        int[] shape = new int[shapeElement.GetArrayLength()];
        long count = 1;
        int k = 0;
        foreach (JsonElement d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int dim) || dim < 0)
            {
                throw new RwkvFormatException(path, $"tensor '{name}' has a shape entry that is not a non-negative 32-bit integer: {d}");
            }

            shape[k++] = dim;
            count = checked(count * dim);
        }

        if (!offsetsElement[0].TryGetInt64(out begin) || !offsetsElement[1].TryGetInt64(out end))
        {
            throw new RwkvFormatException(path, $"tensor '{name}' has data_offsets that are not integers");
        }

        long expectedBytes = count * dtype.SizeInBytes();
        if (begin < 0 || end < begin || end > dataLength)
        {
            throw new RwkvFormatException(
                path, $"tensor '{name}' data_offsets [{begin}, {end}] lie outside the data section of {dataLength} bytes");
        }

        if (end - begin != expectedBytes)
        {
            throw new RwkvFormatException(
                path,
                $"tensor '{name}' data_offsets [{begin}, {end}] span {end - begin} bytes but shape {CheckpointTensor.FormatShape(shape)} of {dtypeName} needs {expectedBytes}");
        }

        return new FileRegionTensor(path, handle, name, shape, dtype, dataStart + begin);
    }
}
