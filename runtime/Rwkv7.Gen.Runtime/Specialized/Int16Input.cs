using System.Runtime.CompilerServices;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Platform;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// The inputs of a product of an 8- or 4-bit matrix, one row per token, prepared once for all of a step's parts:
/// rounded to 16 bits in blocks (<see cref="Int16Activations"/>), which 8-bit products read, and, before a 4-bit
/// product, rounded again to 8 bits and arranged the way the 4-bit kernels read them (<see cref="Q4Kernels.ArrangeSteps"/>).
/// Arranging in every part cost 3% of two-thread 4-bit decode on Zen 5, each part repeating it for the same input
/// (docs/benchmarks.md, change 45). Token t's values and arranged values start at t · <see cref="Stride"/>, its scales
/// at t · <see cref="BlockStride"/>, its offsets at t · <see cref="LaneStride"/>.
/// </summary>
internal sealed class Int16Input
{
    private LineBuffer<short> _values;
    private LineBuffer<sbyte> _arranged;
    private LineBuffer<float> _scales, _arrangedScales;
    private LineBuffer<int> _offsets;
    private int _arrangedStep;

    /// <summary>Room for one token of <paramref name="capacity"/> inputs, a whole number of blocks or not.</summary>
    public Int16Input(int capacity)
        : this(capacity, 1, 1)
    {
    }

    /// <summary>
    /// Room for <paramref name="tokens"/> tokens of <paramref name="capacity"/> inputs each, grown to at most
    /// <paramref name="maxTokens"/> when more are rounded (once: steady-state steps allocate nothing).
    /// </summary>
    public Int16Input(int capacity, int tokens, int maxTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, tokens);
        Capacity = (capacity + Q8Block.Size - 1) / Q8Block.Size * Q8Block.Size;
        MaxTokens = maxTokens;
        Allocate(tokens);
    }

    /// <summary>Inputs a token may have (a whole number of blocks).</summary>
    public int Capacity { get; }

    /// <summary>Tokens this input may grow to.</summary>
    public int MaxTokens { get; }

    /// <summary>The inputs rounded to 16 bits: [<see cref="Tokens"/>] rows of <see cref="Stride"/>, [<see cref="Length"/>] of each valid.</summary>
    public Span<short> Values => _values.Span;

    /// <summary>One scale per block of 32 inputs, <see cref="BlockStride"/> per token: input ≈ value × scale.</summary>
    public Span<float> Scales => _scales.Span;

    /// <summary>The values rounded to 8 bits, in the 4-bit kernels' order (<see cref="Q4Kernels.ArrangeSteps"/>), when <see cref="IsArranged"/>.</summary>
    public Span<sbyte> Arranged => _arranged.Span;

    /// <summary>One scale per block for <see cref="Arranged"/>, <see cref="BlockStride"/> per token: input ≈ 8-bit value × scale.</summary>
    public Span<float> ArrangedScales => _arrangedScales.Span;

    /// <summary>The 4-bit kernels' nibble offsets for <see cref="Arranged"/>: −8 · the sum of the inputs each int32 lane takes.</summary>
    public Span<int> Offsets => _offsets.Span;

    /// <summary>Values from one token to the next.</summary>
    public int Stride => Capacity;

    /// <summary>Scales from one token to the next.</summary>
    public int BlockStride => Capacity / Q8Block.Size;

    /// <summary>Offsets from one token to the next.</summary>
    public int LaneStride => BlockStride * Q4Kernels.OffsetsPerBlock;

    /// <summary>How many inputs per token the last <see cref="Prepare"/> (or <see cref="Round(ReadOnlySpan{float}, int, bool)"/>, <see cref="Set"/>) prepared.</summary>
    public int Length { get; private set; }

    /// <summary>How many tokens the last <see cref="Prepare"/> (or <see cref="Round(ReadOnlySpan{float}, int, bool)"/>, <see cref="Set"/>) prepared.</summary>
    public int Tokens { get; private set; }

    /// <summary>Whether <see cref="Arranged"/>, <see cref="ArrangedScales"/> and <see cref="Offsets"/> hold these inputs for 4-bit products.</summary>
    public bool IsArranged { get; private set; }

    /// <summary>Rounds one token's <paramref name="x"/> (a whole number of blocks) and, for a 4-bit product (<paramref name="arrange"/>), arranges it.</summary>
    public void Round(ReadOnlySpan<float> x, bool arrange) => Round(x, 1, arrange);

    /// <summary>
    /// Rounds <paramref name="tokens"/> rows of inputs, <paramref name="x"/> holding them one after another (each a whole
    /// number of blocks) and, for a 4-bit product (<paramref name="arrange"/>), arranges them.
    /// </summary>
    public void Round(ReadOnlySpan<float> x, int tokens, bool arrange)
    {
        Prepare(x.Length, tokens, arrange);
        RoundRows(x, 0, tokens);
    }

    /// <summary>
    /// The first half of <see cref="Round(ReadOnlySpan{float}, int, bool)"/>, for rows rounded by several threads:
    /// checks the shape of <paramref name="tokens"/> rows of <paramref name="length"/> inputs in all and makes room for
    /// them. <see cref="RoundRows"/> then rounds them, any rows on any thread, each row once.
    /// </summary>
    public void Prepare(int length, int tokens, bool arrange)
    {
        int width = CheckShape(length, tokens);
        if (Values.Length < tokens * Stride)
        {
            Allocate(MaxTokens);
        }

        Length = width;
        Tokens = tokens;
        IsArranged = arrange;
        _arrangedStep = Q4Kernels.StepBlocks;
    }

    /// <summary>
    /// Rounds rows [<paramref name="start"/>, <paramref name="end"/>) of the inputs <see cref="Prepare"/> made room for
    /// (<paramref name="x"/> holds all of them) and, when they are to be, arranges them. Rows are independent: threads
    /// may round disjoint ranges at once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void RoundRows(ReadOnlySpan<float> x, int start, int end)
    {
        int width = Length, blocks = width / Q8Block.Size;
        if (x.Length != Tokens * width || start < 0 || end > Tokens || start > end)
        {
            throw new ArgumentException($"Rows [{start}, {end}) of {Tokens} prepared rows of {width} inputs: got {x.Length} inputs.", nameof(x));
        }

        for (int t = start; t < end; t++)
        {
            Span<short> values = Values.Slice(t * Stride, width);
            Span<float> scales = Scales.Slice(t * BlockStride, blocks);
            Int16Activations.Quantize(x.Slice(t * width, width), values, scales);
            if (IsArranged)
            {
                Q4Kernels.ArrangeSteps(
                    values, scales, Arranged.Slice(t * Stride, width), ArrangedScales.Slice(t * BlockStride, blocks),
                    Offsets.Slice(t * LaneStride, blocks * Q4Kernels.OffsetsPerBlock), _arrangedStep);
            }
        }
    }

    /// <summary>Takes one token's inputs already rounded (<paramref name="values"/> with one scale per block) and, when asked, arranges them.</summary>
    public void Set(ReadOnlySpan<short> values, ReadOnlySpan<float> scales, bool arrange)
    {
        if (values.Length % Q8Block.Size != 0 || scales.Length < values.Length / Q8Block.Size)
        {
            throw new ArgumentException(
                $"16-bit inputs are whole blocks of {Q8Block.Size} with one scale each: got {values.Length} values and {scales.Length} scales.");
        }

        if (values.Contains(short.MinValue))
        {
            // The rounding never makes it (±32767 at most), and the 8-bit rounding's largest magnitude assumes so.
            throw new ArgumentException($"16-bit inputs are in [{-Int16Activations.MaxQuant}, {Int16Activations.MaxQuant}]: input {values.IndexOf(short.MinValue)} is {short.MinValue}.", nameof(values));
        }

        Prepare(values.Length, 1, arrange);
        values.CopyTo(Values);
        scales[..(values.Length / Q8Block.Size)].CopyTo(Scales);
        if (arrange)
        {
            Arrange(Q4Kernels.StepBlocks);
        }
    }

    /// <summary>
    /// Buffers for <paramref name="tokens"/> tokens, on cache lines (<see cref="LineBuffer{T}"/>): a batch's 4-bit
    /// products load every token's inputs a vector at a time, once per step and row.
    /// </summary>
    private void Allocate(int tokens)
    {
        _values = LineBuffer<short>.Allocate(tokens * Capacity);
        _scales = LineBuffer<float>.Allocate(tokens * BlockStride);
        _arranged = LineBuffer<sbyte>.Allocate(tokens * Capacity);
        _arrangedScales = LineBuffer<float>.Allocate(tokens * BlockStride);
        _offsets = LineBuffer<int>.Allocate(tokens * LaneStride);
    }

    private int CheckShape(int length, int tokens)
    {
        if (tokens < 1 || tokens > MaxTokens || length % tokens != 0 || length / tokens % Q8Block.Size != 0 || length / tokens > Capacity)
        {
            throw new ArgumentException(
                $"16-bit inputs are up to {MaxTokens} token(s) of up to {Capacity} inputs, whole blocks of {Q8Block.Size}: got {length} inputs for {tokens} token(s).");
        }

        return length / tokens;
    }

    /// <summary>
    /// Token <paramref name="token"/>'s 8-bit values in their plain order and their scales, read back from the
    /// arrangement: for tests, which check the rounding and compute the products in double from these values.
    /// </summary>
    internal void ReadArranged(int token, Span<sbyte> values, Span<float> scales)
    {
        Q4Kernels.ReadArranged(Arranged.Slice(token * Stride, Length), _arrangedStep, values);
        ArrangedScales.Slice(token * BlockStride, Length / Q8Block.Size).CopyTo(scales);
    }

    /// <summary>
    /// Arranges the inputs again for kernels that read <paramref name="stepBlocks"/> blocks per step, whatever the
    /// dispatch's width: for tests, which run the 256-bit products on processors whose dispatch takes 512 bits.
    /// </summary>
    internal void ArrangeFor(int stepBlocks)
    {
        Arrange(stepBlocks);
        IsArranged = true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Arrange(int stepBlocks)
    {
        int blocks = Length / Q8Block.Size;
        _arrangedStep = stepBlocks;
        for (int t = 0; t < Tokens; t++)
        {
            Q4Kernels.ArrangeSteps(
                Values.Slice(t * Stride, Length), Scales.Slice(t * BlockStride, blocks), Arranged.Slice(t * Stride, Length),
                ArrangedScales.Slice(t * BlockStride, blocks), Offsets.Slice(t * LaneStride, blocks * Q4Kernels.OffsetsPerBlock), stepBlocks);
        }
    }
}
