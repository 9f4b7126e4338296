using System.Buffers.Binary;
using System.Numerics;

namespace Rwkv7.Gen.StateFiles;

/// <summary>
/// CRC-32C (Castagnoli), the checksum of state files. <see cref="BitOperations.Crc32C(uint, ulong)"/> uses the
/// processor's CRC32 instruction where there is one (SSE4.2, Arm CRC32) and a table otherwise.
/// </summary>
internal static class Crc32C
{
    /// <summary>The register value before any data.</summary>
    public const uint Initial = 0xFFFFFFFFu;

    /// <summary>The checksum of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Append(Initial, data));

    /// <summary>Feeds <paramref name="data"/> into a running register.</summary>
    public static uint Append(uint register, ReadOnlySpan<byte> data)
    {
        while (data.Length >= sizeof(ulong))
        {
            register = BitOperations.Crc32C(register, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[sizeof(ulong)..];
        }

        foreach (byte b in data)
        {
            register = BitOperations.Crc32C(register, b);
        }

        return register;
    }

    /// <summary>The checksum from a running register.</summary>
    public static uint Finish(uint register) => ~register;
}
