using System.Text;
using Microsoft.Win32.SafeHandles;
using Rwkv7.Gen.Loading.Pickle;
using Rwkv7.Gen.Loading.Zip;

namespace Rwkv7.Gen.Loading;

/// <summary>
/// Reads PyTorch <c>torch.save</c> zip checkpoints without Python: a zip archive (entries stored) holding
/// <c>&lt;folder&gt;/data.pkl</c>, a pickle of the state dict whose tensors refer to storages by key, and one
/// raw little-endian entry <c>&lt;folder&gt;/data/&lt;key&gt;</c> per storage. Tensors become file regions
/// inside those entries; their data is read only when asked for.
/// </summary>
internal static class PthReader
{
    /// <summary>Largest pickle accepted (a 13B checkpoint's is about 300 KB; this bounds the interpreter's work).</summary>
    public const long MaxPickleBytes = 16L << 20;

    private const string PickleFileName = "data.pkl";
    private const string StorageFolder = "data/";
    private const string ByteOrderFileName = "byteorder";
    private const int MaxByteOrderBytes = 16;

    public static IReadOnlyList<CheckpointTensor> ReadTensors(string path, SafeFileHandle handle, long fileLength)
    {
        ZipArchiveReader zip = ZipArchiveReader.Open(path, handle, fileLength);
        var entries = new Dictionary<string, ZipEntry>(zip.Entries.Count, StringComparer.Ordinal);
        foreach (ZipEntry entry in zip.Entries)
        {
            entries.TryAdd(entry.Name, entry);
        }

        ZipEntry pickleEntry = FindPickle(path, zip.Entries);
        string folder = pickleEntry.Name[..^PickleFileName.Length];
        CheckByteOrder(path, zip, entries, folder);

        byte[] pickle = zip.ReadEntry(pickleEntry, MaxPickleBytes);
        // Errors point at the opcode's byte in the file; in a deflated pickle, at the entry's local header.
        long pickleOffset = pickleEntry.Method == ZipEntry.MethodStored ? zip.GetDataOffset(pickleEntry) : pickleEntry.LocalHeaderOffset;
        object? root = PickleReader.Load(pickle, path, pickleEntry.Name, pickleOffset);
        if (root is not PickleDict dict)
        {
            throw new RwkvFormatException(
                path, $"{pickleEntry.Name} holds {PickleValues.Describe(root)}, not a dict of tensors (a state dict)");
        }

        var storageOffsets = new Dictionary<string, (long Offset, long Length)>(StringComparer.Ordinal);
        var tensors = new List<CheckpointTensor>(dict.Count);
        foreach (KeyValuePair<object?, object?> item in dict.Items)
        {
            if (item.Key is not string name)
            {
                throw new RwkvFormatException(path, $"the state dict has a key that is {PickleValues.Describe(item.Key)}, not a string");
            }

            if (item.Value is not TorchTensor tensor)
            {
                throw new RwkvFormatException(
                    path, $"state dict entry '{name}' is {PickleValues.Describe(item.Value)}, not a tensor");
            }

            (long offset, long length) = LocateStorage(path, zip, entries, folder, name, tensor.Storage, storageOffsets);
            tensors.Add(CreateTensor(path, handle, name, tensor, offset, length));
        }

        return tensors;
    }

    /// <summary>The one entry named <c>data.pkl</c>, inside a folder of any name (or at the archive root).</summary>
    private static ZipEntry FindPickle(string path, IReadOnlyList<ZipEntry> entries)
    {
        ZipEntry? found = null;
        foreach (ZipEntry entry in entries)
        {
            if (entry.Name != PickleFileName && !entry.Name.EndsWith("/" + PickleFileName, StringComparison.Ordinal))
            {
                continue;
            }

            if (found is not null)
            {
                throw new RwkvFormatException(
                    path, $"the archive holds two pickles, '{found.Name}' and '{entry.Name}': not a single torch.save checkpoint");
            }

            found = entry;
        }

        return found ?? throw new RwkvFormatException(
            path, $"the zip archive has no '<folder>/{PickleFileName}' entry: not a PyTorch checkpoint");
    }

    /// <summary>Newer torch versions record the byte order; storages are read as little-endian.</summary>
    private static void CheckByteOrder(string path, ZipArchiveReader zip, Dictionary<string, ZipEntry> entries, string folder)
    {
        if (!entries.TryGetValue(folder + ByteOrderFileName, out ZipEntry? entry))
        {
            return;
        }

        string order = Encoding.ASCII.GetString(zip.ReadEntry(entry, MaxByteOrderBytes)).Trim();
        if (order != "little")
        {
            throw new RwkvFormatException(path, $"the checkpoint's byte order is '{order}'; only little-endian checkpoints can be read");
        }
    }

    /// <summary>The file offset and byte length of a storage's data entry, checked once per storage.</summary>
    private static (long Offset, long Length) LocateStorage(
        string path,
        ZipArchiveReader zip,
        Dictionary<string, ZipEntry> entries,
        string folder,
        string tensorName,
        TorchStorage storage,
        Dictionary<string, (long Offset, long Length)> located)
    {
        if (located.TryGetValue(storage.Key, out (long Offset, long Length) known))
        {
            return known;
        }

        string entryName = folder + StorageFolder + storage.Key;
        if (!entries.TryGetValue(entryName, out ZipEntry? entry))
        {
            throw new RwkvFormatException(path, $"tensor '{tensorName}': its storage entry '{entryName}' is missing from the archive");
        }

        if (entry.Method != ZipEntry.MethodStored || entry.IsEncrypted || entry.CompressedSize != entry.UncompressedSize)
        {
            throw new RwkvFormatException(
                path,
                $"tensor '{tensorName}': archive entry '{entryName}' is compressed or encrypted (method {entry.Method}); tensor data must be stored",
                entry.LocalHeaderOffset);
        }

        var result = (zip.GetDataOffset(entry), entry.UncompressedSize);
        located.Add(storage.Key, result);
        return result;
    }

    /// <summary>Checks a tensor's view of its storage (type, shape, contiguity, bounds) and makes it a file region.</summary>
    private static FileRegionTensor CreateTensor(
        string path, SafeFileHandle handle, string name, TorchTensor tensor, long entryOffset, long entryLength)
    {
        TorchStorage storage = tensor.Storage;
        if (storage.Type.DType is not TensorDType dtype)
        {
            throw new RwkvFormatException(
                path, $"tensor '{name}' is stored as torch.{storage.Type.Name}; only FloatStorage, HalfStorage and BFloat16Storage are supported");
        }

        int elementSize = storage.Type.ElementSize;
        if (storage.ElementCount > entryLength / elementSize)
        {
            throw new RwkvFormatException(
                path,
                $"tensor '{name}': storage '{storage.Key}' claims {storage.ElementCount} elements of {elementSize} bytes but its entry holds {entryLength} bytes");
        }

        int[] shape = new int[tensor.Size.Length];
        long count = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            long d = tensor.Size[i];
            if (d < 0 || d > int.MaxValue)
            {
                throw new RwkvFormatException(path, $"tensor '{name}' has dimension {i} of size {d}");
            }

            shape[i] = (int)d;
            count = d == 0 || count == 0 ? 0 : count <= long.MaxValue / d ? count * d : long.MaxValue;
        }

        CheckContiguous(path, name, tensor);
        if (tensor.StorageOffset < 0 || tensor.StorageOffset > storage.ElementCount || count > storage.ElementCount - tensor.StorageOffset)
        {
            throw new RwkvFormatException(
                path,
                $"tensor '{name}' of shape {CheckpointTensor.FormatShape(shape)} at storage offset {tensor.StorageOffset} does not fit in storage '{storage.Key}' of {storage.ElementCount} elements");
        }

        return new FileRegionTensor(path, handle, name, shape, dtype, entryOffset + (tensor.StorageOffset * elementSize));
    }

    /// <summary>Row-major contiguity: the last stride is 1 and each stride is the next one times the next size.</summary>
    private static void CheckContiguous(string path, string name, TorchTensor tensor)
    {
        if (Array.IndexOf(tensor.Size, 0L) >= 0)
        {
            return; // an empty tensor reads nothing, whatever its strides
        }

        long expected = 1;
        for (int i = tensor.Size.Length - 1; i >= 0; i--)
        {
            // A dimension of size 1 is contiguous whatever its stride, as in PyTorch.
            if (tensor.Size[i] != 1 && tensor.Stride[i] != expected)
            {
                throw new RwkvFormatException(
                    path,
                    $"tensor '{name}' is not contiguous: size ({string.Join(", ", tensor.Size)}) with stride ({string.Join(", ", tensor.Stride)}); save it with .contiguous()");
            }

            // Sizes are at most int.MaxValue (checked by the caller); saturate rather than overflow.
            expected = expected > long.MaxValue / tensor.Size[i] ? long.MaxValue : expected * tensor.Size[i];
        }
    }
}
