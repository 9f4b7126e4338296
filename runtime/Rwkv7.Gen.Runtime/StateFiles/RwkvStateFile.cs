using System.Runtime.InteropServices;
using Rwkv7.Gen.IO;

namespace Rwkv7.Gen.StateFiles;

/// <summary>What a state file holds, from its header.</summary>
/// <param name="Version">Format version.</param>
/// <param name="Layers">Layers L of the model the state belongs to.</param>
/// <param name="Embedding">Embedding width D.</param>
/// <param name="HeadSize">Head size N.</param>
/// <param name="LogitCount">Number of logits saved with the state (the next-token prediction), or 0.</param>
public sealed record StateFileInfo(int Version, int Layers, int Embedding, int HeadSize, int LogitCount)
{
    /// <summary>Heads, D / N.</summary>
    public int Heads => Embedding / HeadSize;

    /// <summary>Whether the logits after the last token were saved too.</summary>
    public bool HasLogits => LogitCount > 0;
}

/// <summary>
/// Saves and loads an <see cref="RwkvState"/> (optionally with the logits it predicts) in a small checked format:
/// a 64-byte header (magic, version, shape, element type, CRC-32C of header and data), then the state in canonical
/// layout — <c>att_x</c> [L][D], <c>ffn_x</c> [L][D], <c>wkv</c> [L][H][i][j] — and the logits.
/// </summary>
/// <remarks>
/// <para>Saving is atomic: the file is written beside the target under a temporary name, flushed to disk, then
/// moved over the target, and the directory is synced. A failure at any point leaves the previous file as it was.</para>
/// <para>Loading checks everything (shape against the target, length, both checksums) before it touches the
/// target: on any error the state and logits given are left unchanged.</para>
/// <para>Values are stored exactly, so a loaded state continues bit for bit as the saved one would have.</para>
/// </remarks>
public static class RwkvStateFile
{
    private const int CopyChunkBytes = 1 << 20;

    /// <summary>Writes <paramref name="state"/> (and <paramref name="logits"/>, if not empty) to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, RwkvState state, ReadOnlySpan<float> logits = default) => Save(path, state, logits, wrap: null);

    /// <summary>Writes the state file to a stream (not closed).</summary>
    public static void Write(Stream destination, RwkvState state, ReadOnlySpan<float> logits = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(state);
        CheckLittleEndian();
        float[] payload = Pack(state, logits);
        ReadOnlySpan<byte> payloadBytes = MemoryMarshal.AsBytes(payload.AsSpan());
        StateFileHeader header = StateFileHeader.For(state.Shape, logits.Length, Crc32C.Compute(payloadBytes));

        Span<byte> headerBytes = stackalloc byte[StateFileHeader.Length];
        header.WriteTo(headerBytes);
        destination.Write(headerBytes);
        for (int offset = 0; offset < payloadBytes.Length; offset += CopyChunkBytes)
        {
            destination.Write(payloadBytes.Slice(offset, Math.Min(CopyChunkBytes, payloadBytes.Length - offset)));
        }
    }

    /// <summary>
    /// Loads the file into <paramref name="target"/>, and its logits into <paramref name="logits"/> when that span
    /// is not empty and the file has them.
    /// </summary>
    /// <exception cref="RwkvFormatException">
    /// Not a state file, a state of another shape, truncated or longer than its header says, a checksum mismatch,
    /// or logits of another length than <paramref name="logits"/>. Nothing was changed.
    /// </exception>
    public static StateFileInfo Load(string path, RwkvState target, Span<float> logits = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Read(stream, target, logits, path);
    }

    /// <summary>Reads a state file from a stream; <paramref name="sourceName"/> names it in errors.</summary>
    /// <inheritdoc cref="Load(string, RwkvState, Span{float})"/>
    public static StateFileInfo Read(Stream source, RwkvState target, Span<float> logits = default, string sourceName = "state stream")
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        CheckLittleEndian();
        StateFileHeader header = ReadHeader(source, sourceName);
        ModelShape shape = target.Shape;
        if (header.Layers != shape.Layers || header.Embedding != shape.Embedding || header.HeadSize != shape.HeadSize)
        {
            throw new RwkvFormatException(sourceName, $"the file holds a state for {header.ShapeText}, but the target state is for L{shape.Layers} D{shape.Embedding} H{shape.Heads}x{shape.HeadSize}");
        }

        if (!logits.IsEmpty && header.LogitCount != 0 && header.LogitCount != logits.Length)
        {
            throw new RwkvFormatException(sourceName, $"the file holds {header.LogitCount} logits, but {logits.Length} were asked for");
        }

        if (source.CanSeek && source.Length - source.Position != header.PayloadLength)
        {
            long actual = source.Length - source.Position;
            string problem = actual < header.PayloadLength ? "truncated" : "longer than its header says";
            throw new RwkvFormatException(sourceName, $"{problem}: {actual} bytes of data, the header says {header.PayloadLength}", StateFileHeader.Length);
        }

        float[] payload = new float[header.StateFloats + header.LogitCount];
        Span<byte> payloadBytes = MemoryMarshal.AsBytes(payload.AsSpan());
        int read = source.ReadAtLeast(payloadBytes, payloadBytes.Length, throwOnEndOfStream: false);
        if (read < payloadBytes.Length)
        {
            throw new RwkvFormatException(sourceName, $"truncated: {read} bytes of data, the header says {header.PayloadLength}", StateFileHeader.Length + read);
        }

        if (!source.CanSeek && source.ReadByte() >= 0)
        {
            throw new RwkvFormatException(sourceName, "longer than its header says", StateFileHeader.Length + payloadBytes.Length);
        }

        if (Crc32C.Compute(payloadBytes) != header.PayloadCrc)
        {
            throw new RwkvFormatException(sourceName, "the data checksum does not match: the file is corrupt", StateFileHeader.Length);
        }

        Unpack(payload, target);
        if (!logits.IsEmpty && header.LogitCount != 0)
        {
            payload.AsSpan((int)header.StateFloats, header.LogitCount).CopyTo(logits);
        }

        return Info(header);
    }

    /// <summary>Reads and checks only the header of <paramref name="path"/>.</summary>
    /// <exception cref="RwkvFormatException">Not a state file, or its header is corrupt.</exception>
    public static StateFileInfo ReadInfo(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Info(ReadHeader(stream, path));
    }

    /// <summary>The atomic save, with a hook that wraps the temporary file's stream (tests inject failures).</summary>
    internal static void Save(string path, RwkvState state, ReadOnlySpan<float> logits, Func<Stream, Stream>? wrap)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(state);
        string fullPath = Path.GetFullPath(path);
        _ = Path.GetDirectoryName(fullPath) ?? throw new ArgumentException($"{path} has no parent directory.", nameof(path));
        string temporary = AtomicFile.TemporaryPathFor(fullPath);
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Stream stream = wrap?.Invoke(file) ?? file;
                Write(stream, state, logits);
                stream.Flush();
                file.Flush(flushToDisk: true);
            }

            AtomicFile.Replace(temporary, fullPath);
        }
        catch
        {
            AtomicFile.TryDelete(temporary);
            throw;
        }
    }

    private static StateFileHeader ReadHeader(Stream source, string sourceName)
    {
        Span<byte> bytes = stackalloc byte[StateFileHeader.Length];
        int read = source.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
        if (read < bytes.Length)
        {
            throw new RwkvFormatException(sourceName, $"truncated: {read} bytes, a state file header alone is {StateFileHeader.Length}", read);
        }

        return StateFileHeader.Read(bytes, sourceName);
    }

    /// <summary>The payload in file order: att_x [L][D], ffn_x [L][D], wkv [L][H][i][j], logits.</summary>
    private static float[] Pack(RwkvState state, ReadOnlySpan<float> logits)
    {
        ModelShape shape = state.Shape;
        int l = shape.Layers, d = shape.Embedding, wkv = shape.Heads * shape.HeadSize * shape.HeadSize;
        float[] payload = new float[checked((2 * l * d) + (l * wkv) + logits.Length)];
        Span<float> p = payload;
        for (int i = 0; i < l; i++)
        {
            state.AttX(i).CopyTo(p.Slice(i * d, d));
            state.FfnX(i).CopyTo(p.Slice((l + i) * d, d));
            state.CopyWkvCanonicalTo(i, p.Slice((2 * l * d) + (i * wkv), wkv));
        }

        logits.CopyTo(p[((2 * l * d) + (l * wkv))..]);
        return payload;
    }

    private static void Unpack(ReadOnlySpan<float> payload, RwkvState target)
    {
        ModelShape shape = target.Shape;
        int l = shape.Layers, d = shape.Embedding, wkv = shape.Heads * shape.HeadSize * shape.HeadSize;
        for (int i = 0; i < l; i++)
        {
            payload.Slice(i * d, d).CopyTo(target.AttX(i));
            payload.Slice((l + i) * d, d).CopyTo(target.FfnX(i));
            target.SetWkvCanonical(i, payload.Slice((2 * l * d) + (i * wkv), wkv));
        }
    }

    private static StateFileInfo Info(StateFileHeader h) => new(h.Version, h.Layers, h.Embedding, h.HeadSize, h.LogitCount);

    private static void CheckLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("State files are read and written on little-endian machines only.");
        }
    }
}
