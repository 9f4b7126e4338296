using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Model;

public sealed class ModelShapeTests
{
    [Theory]
    [InlineData(Models.TinyFp32Bin)]
    [InlineData(Models.Mh4Pth)]
    public void Parameter_count_equals_the_elements_of_every_tensor_in_the_file(string file)
    {
        using Checkpoint checkpoint = Checkpoint.Open(Fixtures.Path(file));
        ModelShape shape = Weights.ShapeDetection.DetectAndValidate(checkpoint);
        long inFile = checkpoint.Tensors.Sum(t => t.ElementCount);
        Assert.Equal(inFile, shape.ParameterCount);
        Assert.Equal(inFile, CanonicalTensors.For(shape).Sum(t => t.ElementCount));
    }

    [Theory]
    [InlineData(12, 768, 64, 64, 32, 128, 191_034_624)]
    public void Released_parameter_counts(int layers, int d, int w, int a, int v, int g, long expected)
    {
        var shape = new ModelShape(layers, d, 64, 65536, 4 * d, w, a, v, g);
        Assert.Equal(expected, shape.ParameterCount);
    }
}
