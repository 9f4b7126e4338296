using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Rwkv7.Gen.Weights;

/// <summary>The ways <see cref="Q4Quantizer"/> and <see cref="Q8Quantizer"/> can work a block: all give the same bytes and scales.</summary>
internal enum QuantizerPath
{
    Scalar,
    Vector256,
    Vector512,
}

/// <summary>Vector helpers the quantizers share.</summary>
internal static class QuantizerVectors
{
    /// <summary>
    /// The largest of a 256-bit vector's lanes. With a NaN among them the native maximum may return it or another lane:
    /// <see cref="Q8Quantizer"/> sends blocks with NaNs to its scalar path first, <see cref="Q4Quantizer"/> checks the
    /// result against the block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxLane(Vector256<float> m)
    {
        Vector128<float> h = Vector128.MaxNative(m.GetLower(), m.GetUpper());
        return MathF.Max(MathF.Max(h.GetElement(0), h.GetElement(1)), MathF.Max(h.GetElement(2), h.GetElement(3)));
    }
}
