using System.Runtime.InteropServices;
using System.Text;

namespace Rwkv7.Gen.Tests.Loading.Support;

/// <summary>Builds small torch.save-style archives: <c>&lt;folder&gt;/data.pkl</c>, <c>data/&lt;key&gt;</c> storages, <c>version</c>.</summary>
public static class TestPth
{
    public const string Folder = "archive";

    /// <summary>The archive items for a pickle and its storages.</summary>
    public static List<ZipItem> Items(byte[] pickle, IEnumerable<(string Key, byte[] Data)> storages, bool deflatePickle = false)
    {
        var items = new List<ZipItem> { new($"{Folder}/data.pkl", pickle, deflatePickle) };
        foreach ((string key, byte[] data) in storages)
        {
            items.Add(new ZipItem($"{Folder}/data/{key}", data));
        }

        items.Add(new ZipItem($"{Folder}/version", Encoding.ASCII.GetBytes("3\n")));
        return items;
    }

    /// <summary>Writes the archive to a temp file.</summary>
    public static TempFile Write(byte[] pickle, params (string Key, byte[] Data)[] storages) =>
        new(TestZipWriter.Write(Items(pickle, storages)), ".pth");

    /// <summary>Little-endian float32 bytes.</summary>
    public static byte[] Floats(params float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>A dict with one (2, 3) float tensor 'w' and whatever <paramref name="tail"/> adds, then STOP.</summary>
    public static byte[] SingleTensorPickle(Action<PickleBuilder>? tail = null)
    {
        var p = new PickleBuilder().Proto(2).EmptyDict().Mark();
        p.Unicode("w").Tensor("FloatStorage", "0", 6, 0, [2, 3], [3, 1]);
        tail?.Invoke(p);
        return p.SetItems().Stop().ToArray();
    }
}
