using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rwkv7.Gen;

/// <summary>
/// An element-wise function of x with two scalar parameters a and b, at each vector width: what
/// <see cref="Elementwise.Map{TOp}"/> applies.
/// </summary>
internal interface IElementwise
{
    static abstract Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b);

    static abstract Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b);

    static abstract Vector128<float> Apply(Vector128<float> x, Vector128<float> a, Vector128<float> b);
}

/// <summary>
/// The loop of the element-wise functions a token's step and its sampling run (<see cref="Specialized.Activations"/>,
/// <see cref="Sampling.ProbabilityKernels"/>): compiled optimized from its first call, on the widest accelerated vectors
/// (else 128-bit ones, in software), and with a span's last partial vector put through the same vector code in a stack
/// buffer, so that an element's result does not depend on where it falls in its span.
/// </summary>
internal static class Elementwise
{
    /// <summary>destination[i] = TOp(source[i], a, b); the two may be the same span.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Map<TOp>(ReadOnlySpan<float> source, Span<float> destination, float a, float b)
        where TOp : struct, IElementwise
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException($"{source.Length} results do not fit in {destination.Length}.", nameof(destination));
        }

        ref float s = ref MemoryMarshal.GetReference(source);
        ref float d = ref MemoryMarshal.GetReference(destination);
        int n = source.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> va = Vector512.Create(a), vb = Vector512.Create(b);
            for (; i + Vector512<float>.Count <= n; i += Vector512<float>.Count)
            {
                TOp.Apply(Vector512.LoadUnsafe(ref s, (nuint)i), va, vb).StoreUnsafe(ref d, (nuint)i);
            }

            if (i < n)
            {
                Span<float> tail = stackalloc float[Vector512<float>.Count];
                tail.Clear();
                source[i..].CopyTo(tail);
                TOp.Apply(Vector512.Create<float>(tail), va, vb).CopyTo(tail);
                tail[..(n - i)].CopyTo(destination[i..]);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> va = Vector256.Create(a), vb = Vector256.Create(b);
            for (; i + Vector256<float>.Count <= n; i += Vector256<float>.Count)
            {
                TOp.Apply(Vector256.LoadUnsafe(ref s, (nuint)i), va, vb).StoreUnsafe(ref d, (nuint)i);
            }

            if (i < n)
            {
                Span<float> tail = stackalloc float[Vector256<float>.Count];
                tail.Clear();
                source[i..].CopyTo(tail);
                TOp.Apply(Vector256.Create<float>(tail), va, vb).CopyTo(tail);
                tail[..(n - i)].CopyTo(destination[i..]);
            }
        }
        else
        {
            Vector128<float> va = Vector128.Create(a), vb = Vector128.Create(b);
            for (; i + Vector128<float>.Count <= n; i += Vector128<float>.Count)
            {
                TOp.Apply(Vector128.LoadUnsafe(ref s, (nuint)i), va, vb).StoreUnsafe(ref d, (nuint)i);
            }

            if (i < n)
            {
                Span<float> tail = stackalloc float[Vector128<float>.Count];
                tail.Clear();
                source[i..].CopyTo(tail);
                TOp.Apply(Vector128.Create<float>(tail), va, vb).CopyTo(tail);
                tail[..(n - i)].CopyTo(destination[i..]);
            }
        }
    }
}
