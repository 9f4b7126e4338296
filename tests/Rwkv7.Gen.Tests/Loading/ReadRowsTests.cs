using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>Partial reads of rows (used to convert large matrices in chunks) equal the same rows of a full read.</summary>
public sealed class ReadRowsTests
{
    public static TheoryData<string> Files() => [.. Models.TinyFiles, .. Models.Mh4Files];

    [Theory]
    [MemberData(nameof(Files))]
    public void Rows_read_alone_equal_the_same_rows_of_a_full_read(string file)
    {
        using Checkpoint checkpoint = Checkpoint.Open(Fixtures.Path(file));
        foreach (CheckpointTensor t in checkpoint.Tensors.Where(t => t.Shape.Count == 2))
        {
            byte[] all = new byte[t.ByteLength];
            t.ReadTo(all);
            int rows = t.Shape[0];
            int rowBytes = (int)(t.ByteLength / rows);
            foreach ((int first, int count) in new[] { (0, 1), (rows / 3, Math.Max(1, rows / 4)), (rows - 1, 1), (0, rows) })
            {
                byte[] part = new byte[count * rowBytes];
                t.ReadRowsTo(first, count, part);
                Assert.True(all.AsSpan(first * rowBytes, count * rowBytes).SequenceEqual(part), $"{file}: {t.Name} rows [{first}, {first + count})");
            }
        }
    }

    [Fact]
    public void Out_of_range_rows_are_refused()
    {
        using Checkpoint checkpoint = Checkpoint.Open(Fixtures.Path(Models.Mh4Safetensors));
        CheckpointTensor head = checkpoint.Find("head.weight")!;
        int rowBytes = (int)(head.ByteLength / head.Shape[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => head.ReadRowsTo(head.Shape[0] - 1, 2, new byte[2 * rowBytes]));
        Assert.Throws<ArgumentOutOfRangeException>(() => head.ReadRowsTo(-1, 1, new byte[rowBytes]));
        Assert.Throws<ArgumentException>(() => head.ReadRowsTo(0, 2, new byte[rowBytes]));
    }
}
