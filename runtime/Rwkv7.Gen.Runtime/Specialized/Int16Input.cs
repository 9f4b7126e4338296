using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// One decoded token's input to a product of an 8- or 4-bit matrix, prepared once for all of a step's parts: rounded
/// to 16 bits in blocks (<see cref="Int16Activations"/>) and, before a 4-bit product, also arranged the way the 4-bit
/// kernels read it (<see cref="Q4Kernels.Arrange"/>). Arranging in every part cost 3% of two-thread 4-bit decode on
/// Zen 5, each part repeating it for the same input (docs/benchmarks.md, change 45).
/// </summary>
internal sealed class Int16Input
{
    /// <summary>Room for <paramref name="capacity"/> inputs, a whole number of blocks or not.</summary>
    public Int16Input(int capacity)
    {
        int blocks = (capacity + Q8Block.Size - 1) / Q8Block.Size;
        Values = new short[blocks * Q8Block.Size];
        Scales = new float[blocks];
        Arranged = new short[blocks * Q8Block.Size];
        Offsets = new int[blocks * Q4Kernels.OffsetsPerBlock];
    }

    /// <summary>The inputs rounded to 16 bits, [<see cref="Length"/>] of them valid.</summary>
    public short[] Values { get; }

    /// <summary>One scale per block of 32 inputs: input ≈ value × scale.</summary>
    public float[] Scales { get; }

    /// <summary>The values in the 4-bit kernels' order (<see cref="Q4Kernels.Arrange"/>), when <see cref="IsArranged"/>.</summary>
    public short[] Arranged { get; }

    /// <summary>The 4-bit kernels' nibble offsets for <see cref="Arranged"/>: −8 · the sum of the inputs each int32 lane takes.</summary>
    public int[] Offsets { get; }

    /// <summary>How many inputs the last <see cref="Round"/> or <see cref="Set"/> prepared.</summary>
    public int Length { get; private set; }

    /// <summary>Whether <see cref="Arranged"/> and <see cref="Offsets"/> hold these inputs for 4-bit products.</summary>
    public bool IsArranged { get; private set; }

    /// <summary>Rounds <paramref name="x"/> (a whole number of blocks) and, for a 4-bit product (<paramref name="arrange"/>), arranges it.</summary>
    public void Round(ReadOnlySpan<float> x, bool arrange)
    {
        Int16Activations.Quantize(x, Values, Scales);
        Prepared(x.Length, arrange);
    }

    /// <summary>Takes inputs already rounded (<paramref name="values"/> with one scale per block) and, when asked, arranges them.</summary>
    public void Set(ReadOnlySpan<short> values, ReadOnlySpan<float> scales, bool arrange)
    {
        if (values.Length % Q8Block.Size != 0 || scales.Length < values.Length / Q8Block.Size)
        {
            throw new ArgumentException(
                $"16-bit inputs are whole blocks of {Q8Block.Size} with one scale each: got {values.Length} values and {scales.Length} scales.");
        }

        values.CopyTo(Values);
        scales[..(values.Length / Q8Block.Size)].CopyTo(Scales);
        Prepared(values.Length, arrange);
    }

    private void Prepared(int length, bool arrange)
    {
        Length = length;
        IsArranged = arrange;
        if (arrange)
        {
            Q4Kernels.Arrange(Values.AsSpan(0, length), Arranged, Offsets);
        }
    }
}
