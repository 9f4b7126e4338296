using Microsoft.Win32.SafeHandles;
using Rwkv7.Gen.Loading.Gguf;

namespace Rwkv7.Gen.Loading;

/// <summary>
/// An opened checkpoint file: its container format and its tensors under canonical RWKV-LM names. Tensor data
/// is read on demand through <see cref="CheckpointTensor.ReadTo"/>; nothing large is held in memory.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    private readonly Dictionary<string, CheckpointTensor> _byName;

    internal Checkpoint(string filePath, CheckpointFormat format, SafeFileHandle handle, IReadOnlyList<CheckpointTensor> tensors, GgufModelInfo? gguf = null)
    {
        FilePath = filePath;
        Gguf = gguf;
        Format = format;
        Handle = handle;
        Tensors = tensors;
        _byName = new Dictionary<string, CheckpointTensor>(tensors.Count, StringComparer.Ordinal);
        foreach (CheckpointTensor t in tensors)
        {
            if (!_byName.TryAdd(t.Name, t))
            {
                throw new RwkvFormatException(filePath, $"tensor '{t.Name}' appears twice");
            }
        }
    }

    /// <summary>Path the checkpoint was opened from.</summary>
    public string FilePath { get; }

    /// <summary>Container format.</summary>
    public CheckpointFormat Format { get; }

    /// <summary>Every tensor, in file order.</summary>
    public IReadOnlyList<CheckpointTensor> Tensors { get; }

    /// <summary>A GGUF file's metadata (name, file type, tokenizer, per-tensor types); null for other formats.</summary>
    public GgufModelInfo? Gguf { get; }

    internal SafeFileHandle Handle { get; }

    /// <summary>Finds a tensor by canonical name, or returns null.</summary>
    public CheckpointTensor? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>
    /// Opens a checkpoint, recognizing the format from the file's first bytes (zip → PyTorch, rwkv.cpp magic, GGUF
    /// magic, otherwise a safetensors header).
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="RwkvFormatException">The file is not a readable checkpoint.</exception>
    public static Checkpoint Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Checkpoint file not found: {path}", path);
        }

        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            long length = RandomAccess.GetLength(handle);
            Span<byte> head = stackalloc byte[8];
            int got = RandomAccess.Read(handle, head, 0);
            head = head[..got];
            CheckpointFormat format = Sniff(path, head, length);
            GgufModelInfo? gguf = null;
            IReadOnlyList<CheckpointTensor> tensors = format switch
            {
                CheckpointFormat.Safetensors => SafetensorsReader.ReadTensors(path, handle, length),
                CheckpointFormat.PyTorch => PthReader.ReadTensors(path, handle, length),
                CheckpointFormat.RwkvCpp => RwkvCppReader.ReadTensors(path, handle, length),
                CheckpointFormat.Gguf => GgufReader.ReadTensors(path, handle, length, out gguf),
                _ => throw new RwkvFormatException(path, "unsupported format"),
            };
            return new Checkpoint(path, format, handle, tensors, gguf);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static CheckpointFormat Sniff(string path, ReadOnlySpan<byte> head, long length)
    {
        if (length < 8 || head.Length < 8)
        {
            throw new RwkvFormatException(path, $"file is {length} bytes long, too short to be a checkpoint");
        }

        if (head[0] == (byte)'P' && head[1] == (byte)'K')
        {
            return CheckpointFormat.PyTorch;
        }

        if (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(head) == RwkvCppReader.Magic)
        {
            return CheckpointFormat.RwkvCpp;
        }

        if (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(head) == GgufFile.Magic)
        {
            return CheckpointFormat.Gguf;
        }

        ulong headerLength = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(head);
        if (headerLength >= 2 && headerLength <= (ulong)(length - 8))
        {
            return CheckpointFormat.Safetensors;
        }

        throw new RwkvFormatException(
            path,
            "not a recognized checkpoint: expected a PyTorch .pth (zip), a safetensors file, a GGUF file or an rwkv.cpp .bin (magic 0x67676d66)",
            0);
    }

    /// <inheritdoc />
    public void Dispose() => Handle.Dispose();
}
