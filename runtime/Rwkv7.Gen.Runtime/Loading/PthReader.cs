using Microsoft.Win32.SafeHandles;

namespace Rwkv7.Gen.Loading;

/// <summary>Reads PyTorch <c>torch.save</c> zip checkpoints without Python.</summary>
internal static class PthReader
{
    public static IReadOnlyList<CheckpointTensor> ReadTensors(string path, SafeFileHandle handle, long fileLength) =>
        throw new RwkvFormatException(path, "PyTorch .pth reading is not implemented yet");
}
