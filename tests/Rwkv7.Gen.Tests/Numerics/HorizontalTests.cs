using System.Runtime.Intrinsics;
using Rwkv7.Gen.Specialized;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// The shared-shuffle horizontal sums that end every row tile of the generated 512-bit kernels (change 25). This class
/// runs in the Numerics namespace, which CI runs again with AVX-512 switched off, so both the shuffle path and the
/// fallback are checked here against sums taken in double precision.
/// </summary>
public sealed class HorizontalTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Sums_are_each_vectors_own_sum_in_argument_order(int seed)
    {
        var random = new Random(seed);

        // Each vector's lanes around a different magnitude, so a sum in the wrong slot cannot pass.
        Vector512<float>[] vectors = new Vector512<float>[4];
        double[] expected = new double[4];
        for (int v = 0; v < 4; v++)
        {
            float[] lanes = new float[16];
            for (int i = 0; i < 16; i++)
            {
                lanes[i] = (float)((random.NextDouble() - 0.25) * Math.Pow(10, v));
                expected[v] += lanes[i];
            }

            vectors[v] = Vector512.Create(lanes);
        }

        Vector128<float> sums = Horizontal.Sums(vectors[0], vectors[1], vectors[2], vectors[3]);

        for (int v = 0; v < 4; v++)
        {
            double tolerance = 1e-5 * Math.Pow(10, v) * 16;
            Assert.True(Math.Abs(sums.GetElement(v) - expected[v]) <= tolerance, $"sum {v}: {sums.GetElement(v)} against {expected[v]}");
        }
    }

    [Fact]
    public void Store_writes_the_four_sums_or_adds_them()
    {
        float[] output = [10, 20, 30, 40, 50];
        Vector128<float> sums = Vector128.Create(1f, 2f, 3f, 4f);

        Horizontal.Store(sums, ref output[0], accumulate: true);
        Assert.Equal([11f, 22f, 33f, 44f, 50f], output);

        Horizontal.Store(sums, ref output[1], accumulate: false);
        Assert.Equal([11f, 1f, 2f, 3f, 4f], output);
    }

    [Fact]
    public void StorePair_writes_the_chosen_two_sums_and_nothing_else()
    {
        float[] output = [10, 20, 30, 40];
        Vector128<float> sums = Vector128.Create(1f, 2f, 3f, 4f);

        Horizontal.StorePair(sums, 1, ref output[1], accumulate: true);
        Assert.Equal([10f, 23f, 34f, 40f], output);

        Horizontal.StorePair(sums, 0, ref output[2], accumulate: false);
        Assert.Equal([10f, 23f, 1f, 2f], output);
    }
}
