using Microsoft.Win32.SafeHandles;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Loading.Pickle;
using Rwkv7.Gen.Loading.Zip;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// Real checkpoints come both as a plain dict and as a <c>collections.OrderedDict</c> filled by SETITEMS
/// batches; the fixtures cover one of each, and the pickle reader must see them as such.
/// </summary>
public sealed class PthDictFlavourTests
{
    [Theory]
    [InlineData(Models.TinyFp32Pth, false)]
    [InlineData(Models.TinyBf16Pth, true)]
    [InlineData(Models.Mh4Pth, true)]
    public void Top_level_object_is_the_expected_dict_flavour(string file, bool ordered)
    {
        string path = Fixtures.Path(file);
        using SafeFileHandle handle = File.OpenHandle(path);
        ZipArchiveReader zip = ZipArchiveReader.Open(path, handle, RandomAccess.GetLength(handle));
        ZipEntry pickleEntry = Assert.Single(zip.Entries, e => e.Name.EndsWith("/data.pkl", StringComparison.Ordinal));
        Assert.Equal(Path.GetFileNameWithoutExtension(file) + "/data.pkl", pickleEntry.Name);

        object? root = PickleReader.Load(zip.ReadEntry(pickleEntry, PthReader.MaxPickleBytes), path, pickleEntry.Name, 0);

        PickleDict dict = Assert.IsType<PickleDict>(root);
        Assert.Equal(ordered, dict.IsOrderedDict);
        Assert.All(dict.Items, item => Assert.IsType<TorchTensor>(item.Value));
        Assert.Equal(file == Models.Mh4Pth ? FixtureShapes.Mh4TensorCount : FixtureShapes.TinyTensorCount, dict.Count);
    }
}
