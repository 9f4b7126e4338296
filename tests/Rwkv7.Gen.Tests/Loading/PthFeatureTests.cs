using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Loading.Support;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// .pth features the fixtures do not exercise but real checkpoints may use: Zip64 archives, protocol 4 pickles,
/// Parameters, shared storages with offsets, half storages, state-dict metadata, a deflated pickle.
/// </summary>
public sealed class PthFeatureTests
{
    [Fact]
    public void Zip64_archive_reads_the_same_tensors_as_the_original()
    {
        List<ZipItem> items = TestZipWriter.ReadAll(FixtureBytes.Get(Models.TinyBf16Pth));
        using var zip64 = new TempFile(TestZipWriter.Write(items, forceZip64: true), ".pth");
        using Checkpoint original = Checkpoint.Open(Fixtures.Path(Models.TinyBf16Pth));
        using Checkpoint rewritten = Checkpoint.Open(zip64.Path);

        Assert.Equal(CheckpointFormat.PyTorch, rewritten.Format);
        Assert.Equal(original.Tensors.Select(t => t.ToString()), rewritten.Tensors.Select(t => t.ToString()));
        foreach (CheckpointTensor t in original.Tensors)
        {
            Assert.Equal(ReadBytes(t), ReadBytes(rewritten.Find(t.Name)!));
        }
    }

    [Fact]
    public void Protocol_4_pickle_with_parameters_shared_storage_and_metadata_is_read()
    {
        // An OrderedDict built with NEWOBJ, names and globals in protocol 4 style, memo by MEMOIZE.
        var p = new PickleBuilder().Proto(4).Frame(0);
        p.StackGlobal("collections", "OrderedDict").Memoize().EmptyTuple().NewObj().Memoize();
        p.Mark();

        // 'a': a Parameter over the first 6 elements of storage "s" (10 floats), shape (2, 3).
        p.ShortUnicode("a").StackGlobal("torch._utils", "_rebuild_parameter").Memoize();
        AppendTensor(p, "FloatStorage", "s", 10, offset: 0, size: [2, 3], stride: [3, 1]);
        p.Bool(true).Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple3().Reduce();

        // 'b': the last 4 elements of the same storage, shape (4,), with a degenerate stride on a size-1 dim.
        p.Unicode8("b");
        AppendTensor(p, "FloatStorage", "s", 10, offset: 6, size: [1, 4], stride: [99, 1]);

        // 'c': a half-precision tensor with a large storage numel spelled as LONG1.
        p.ShortUnicode("c");
        p.StackGlobal("torch._utils", "_rebuild_tensor_v2").Mark();
        p.Mark().ShortUnicode("storage").StackGlobal("torch", "HalfStorage").ShortUnicode("h").ShortUnicode("cpu").Long1(2).Tuple().BinPersId();
        p.Int(0).Int(2).Tuple1().Int(1).Tuple1().Bool(false).EmptyDict().Tuple().Reduce();
        p.SetItems();

        // State-dict metadata as torch writes it for module state dicts: BUILD with {'_metadata': {...}}.
        p.EmptyDict().ShortUnicode("_metadata").EmptyDict().ShortUnicode("").EmptyDict().ShortUnicode("version").Int(1).SetItem()
            .SetItem().SetItem().Build();
        byte[] pickle = p.Stop().ToArray();

        float[] s = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        byte[] h = MemoryMarshal.AsBytes<Half>([(Half)1.5f, (Half)(-2f)]).ToArray();
        using TempFile file = TestPth.Write(pickle, ("s", TestPth.Floats(s)), ("h", h));
        using Checkpoint checkpoint = Checkpoint.Open(file.Path);

        Assert.Equal(["a (2, 3) fp32", "b (1, 4) fp32", "c (2,) fp16"], checkpoint.Tensors.Select(t => t.ToString()));
        Assert.Equal(s[..6], ReadFloats(checkpoint.Find("a")!));
        Assert.Equal(s[6..], ReadFloats(checkpoint.Find("b")!));
        Assert.Equal(h, ReadBytes(checkpoint.Find("c")!));
    }

    [Fact]
    public void Deflated_pickle_is_accepted()
    {
        List<ZipItem> items = TestPth.Items(TestPth.SingleTensorPickle(), [("0", TestPth.Floats(1, 2, 3, 4, 5, 6))], deflatePickle: true);
        using var file = new TempFile(TestZipWriter.Write(items), ".pth");
        using Checkpoint checkpoint = Checkpoint.Open(file.Path);

        CheckpointTensor w = Assert.Single(checkpoint.Tensors);
        Assert.Equal([1f, 2, 3, 4, 5, 6], ReadFloats(w));
    }

    [Fact]
    public void Any_top_folder_name_is_accepted()
    {
        List<ZipItem> items = TestPth.Items(TestPth.SingleTensorPickle(), [("0", TestPth.Floats(1, 2, 3, 4, 5, 6))])
            .Select(i => i with { Name = i.Name.Replace(TestPth.Folder + "/", "rwkv-x070 world 0.1B/", StringComparison.Ordinal) })
            .ToList();
        using var file = new TempFile(TestZipWriter.Write(items), ".pth");
        using Checkpoint checkpoint = Checkpoint.Open(file.Path);

        Assert.Equal([2, 3], Assert.Single(checkpoint.Tensors).Shape);
    }

    private static void AppendTensor(PickleBuilder p, string type, string key, long numel, long offset, long[] size, long[] stride)
    {
        p.StackGlobal("torch._utils", "_rebuild_tensor_v2").Mark();
        p.Mark().ShortUnicode("storage").StackGlobal("torch", type).ShortUnicode(key).ShortUnicode("cpu").Int(numel).Tuple().BinPersId();
        p.Int(offset).IntTuple(size).IntTuple(stride).Bool(false).Global("collections", "OrderedDict").EmptyTuple().Reduce();
        p.Tuple().Reduce();
    }

    private static byte[] ReadBytes(CheckpointTensor t)
    {
        byte[] bytes = new byte[t.ByteLength];
        t.ReadTo(bytes);
        return bytes;
    }

    private static float[] ReadFloats(CheckpointTensor t) => MemoryMarshal.Cast<byte, float>(ReadBytes(t)).ToArray();
}
