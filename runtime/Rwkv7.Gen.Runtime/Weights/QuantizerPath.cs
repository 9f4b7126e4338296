namespace Rwkv7.Gen.Weights;

/// <summary>The ways <see cref="Q4Quantizer"/> and <see cref="Q8Quantizer"/> can work a block: all give the same bytes and scales.</summary>
internal enum QuantizerPath
{
    Scalar,
    Vector256,
    Vector512,
}
