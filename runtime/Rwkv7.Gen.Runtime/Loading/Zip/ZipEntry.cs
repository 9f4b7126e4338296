namespace Rwkv7.Gen.Loading.Zip;

/// <summary>
/// One file of a zip archive as its central directory describes it. Sizes and the local header offset are the
/// 64-bit values (taken from the Zip64 extra field where the 32-bit fields are saturated) and have been checked
/// to lie inside the archive file.
/// </summary>
/// <param name="Name">Path inside the archive, with forward slashes.</param>
/// <param name="Method">Compression method: 0 stored, 8 deflate, anything else unsupported.</param>
/// <param name="Flags">General-purpose bit flags (bit 0: encrypted).</param>
/// <param name="CompressedSize">Bytes the entry's data occupies in the archive.</param>
/// <param name="UncompressedSize">Bytes of the entry once decompressed.</param>
/// <param name="LocalHeaderOffset">File offset of the entry's local header.</param>
internal sealed record ZipEntry(
    string Name, ushort Method, ushort Flags, long CompressedSize, long UncompressedSize, long LocalHeaderOffset)
{
    /// <summary>Compression method 0: the data is stored as is.</summary>
    public const ushort MethodStored = 0;

    /// <summary>Compression method 8: raw deflate.</summary>
    public const ushort MethodDeflate = 8;

    private const ushort EncryptedFlag = 0x0001;

    /// <summary>Whether the entry is encrypted (never readable here).</summary>
    public bool IsEncrypted => (Flags & EncryptedFlag) != 0;
}
