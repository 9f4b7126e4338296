using Microsoft.Win32.SafeHandles;

namespace Rwkv7.Gen.Loading;

/// <summary>Reads rwkv.cpp <c>.bin</c> model files (versions 100 and 101, FP32 and FP16).</summary>
internal static class RwkvCppReader
{
    /// <summary>The file magic, 'ggmf' as a little-endian int32.</summary>
    public const uint Magic = 0x67676d66;

    public static IReadOnlyList<CheckpointTensor> ReadTensors(string path, SafeFileHandle handle, long fileLength) =>
        throw new RwkvFormatException(path, "rwkv.cpp .bin reading is not implemented yet");
}
