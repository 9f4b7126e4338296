using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Tests.Loading.Support;

/// <summary>
/// Runs the loader on a bad file and checks that it fails the way DESIGN.md demands: a typed
/// <see cref="RwkvException"/> whose message names the file, within a time limit (no hang), and without
/// allocating much more than the file could justify.
/// </summary>
public static class MalformedFile
{
    /// <summary>Generous: opening a small malformed file takes milliseconds.</summary>
    public static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(30);

    /// <summary>Default allowed managed allocation per byte of file (plus <see cref="AllocationOverhead"/>).</summary>
    public const int DefaultAllocationFactor = 4;

    /// <summary>Fixed allowance for the loader's own tables and the exception.</summary>
    public const long AllocationOverhead = 1 << 20;

    /// <summary>Allowed managed allocation: <paramref name="factor"/> × the file size plus 1 MB.</summary>
    public static long AllocationLimit(long fileLength, int factor = DefaultAllocationFactor) => (factor * fileLength) + AllocationOverhead;

    /// <summary>
    /// Opens <paramref name="path"/> and, if that succeeds, validates its tensors against the model shape; expects
    /// an <see cref="RwkvFormatException"/> or <see cref="RwkvShapeException"/> naming the file, allocating at most
    /// <see cref="AllocationLimit"/>(file size, <paramref name="allocationFactor"/>).
    /// </summary>
    public static RwkvException AssertRejected(string path, int allocationFactor = DefaultAllocationFactor)
    {
        long length = new FileInfo(path).Length;
        Exception? caught = null;
        long allocated = 0;
        var worker = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using Checkpoint checkpoint = Checkpoint.Open(path);
                ShapeDetection.DetectAndValidate(checkpoint);
            }
            catch (Exception e)
            {
                caught = e;
            }

            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        });
        worker.Start();
        Assert.True(worker.Join(TimeLimit), $"loading {path} did not finish within {TimeLimit}");

        Assert.NotNull(caught);
        Assert.True(
            caught is RwkvFormatException or RwkvShapeException,
            $"expected RwkvFormatException or RwkvShapeException, got {caught.GetType().Name}: {caught}");
        Assert.Contains(path, caught.Message, StringComparison.Ordinal);
        Assert.True(
            allocated <= AllocationLimit(length, allocationFactor),
            $"loading the {length}-byte file {path} allocated {allocated} bytes (limit {AllocationLimit(length, allocationFactor)})");
        return (RwkvException)caught;
    }

    /// <summary>As <see cref="AssertRejected"/>, requiring a format error; returns it.</summary>
    public static RwkvFormatException AssertFormatError(string path, int allocationFactor = DefaultAllocationFactor) =>
        Assert.IsType<RwkvFormatException>(AssertRejected(path, allocationFactor));
}
