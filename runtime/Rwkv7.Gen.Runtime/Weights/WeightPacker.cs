using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// Packs a model's tensors, one at a time, into the arena a <see cref="WeightPlan"/> laid out: vectors widened to fp32,
/// matrices copied, converted, narrowed or quantized in chunks of rows (never a second full copy of a large matrix),
/// the LoRA factors transposed to (out, in), and a GGUF file's Q8_0/Q4_0 blocks kept as they are.
/// </summary>
internal sealed unsafe class WeightPacker(ITensorSource source, WeightPlan plan, WeightLoadOptions options, byte* arena)
{
    /// <summary>Rows per chunk when converting or quantizing a large matrix: about this many bytes of source.</summary>
    private const int ChunkBytes = 4 << 20;

    private byte[] _scratch = [];

    /// <summary>Bytes of <paramref name="t"/> as the source stores it (what packing it reads).</summary>
    public long SourceBytes(CanonicalTensor t) => t.ElementCount * source.TypeOf(t).SizeInBytes();

    /// <summary>A vector tensor as fp32.</summary>
    public float[] PackVector(CanonicalTensor t)
    {
        TensorDType stored = source.TypeOf(t);
        Span<byte> data = Read(t, stored);
        float[] values = new float[t.ElementCount];
        TensorConversions.Convert(data, stored, MemoryMarshal.AsBytes(values.AsSpan()), TensorDType.F32);
        return values;
    }

    /// <summary>
    /// Packs a matrix into its planned slot. Returns false, leaving the arena partly written, when an fp32 matrix
    /// planned as bf16 turns out to hold a value bf16 cannot: it needs twice the slot, so the arena must be planned
    /// again with it kept fp32.
    /// </summary>
    public bool TryPackMatrix(CanonicalTensor t, out WeightMatrix matrix)
    {
        TensorDType stored = source.TypeOf(t);
        TensorDType target = plan.TypeOf(t);
        byte* slot = arena + plan.OffsetOf(t);
        int rows = t.Shape[0], cols = t.Shape[1];
        if (KeptBlocks.TryPack(source, t, target, slot, out matrix))
        {
            return true;
        }

        if (t.Role == TensorRole.LoraFactor)
        {
            return TryPackLora(t, stored, target, slot, out matrix);
        }

        int sourceBytes = checked((int)(t.ElementCount * stored.SizeInBytes()));
        if (target == stored)
        {
            source.Read(t, new Span<byte>(slot, sourceBytes));
            matrix = new WeightMatrix(slot, rows, cols, target);
            return true;
        }

        // Converted or quantized in chunks of rows.
        int rowBytes = cols * stored.SizeInBytes();
        int chunkRows = Math.Max(1, ChunkBytes / rowBytes);
        for (int first = 0; first < rows; first += chunkRows)
        {
            int count = Math.Min(chunkRows, rows - first);
            Span<byte> chunk = Scratch(count * rowBytes);
            source.ReadRows(t, first, count, chunk);
            if (target is TensorDType.Q8 or TensorDType.Q4)
            {
                QuantizeRows(chunk, stored, t, slot, first, count, cols, target);
                continue;
            }

            int targetRowBytes = cols * target.SizeInBytes();
            var packed = new Span<byte>(slot + ((long)first * targetRowBytes), count * targetRowBytes);
            if (options.MatrixType is not null)
            {
                TensorConversions.Convert(chunk, stored, packed, target);
            }
            else if (!TensorConversions.TryNarrowExactly(chunk, stored, packed))
            {
                // A value bf16 cannot hold. fp16 takes the bf16 slot's bytes: the whole matrix is re-read and stays
                // fp16, as the file stores it. fp32 needs twice them: plan again.
                if (stored == TensorDType.F32)
                {
                    matrix = default;
                    return false;
                }

                target = TensorDType.F16;
                source.Read(t, new Span<byte>(slot, sourceBytes));
                break;
            }
        }

        matrix = new WeightMatrix(slot, rows, cols, target);
        return true;
    }

    /// <summary>
    /// A LoRA factor (small): canonical (in, out) used as x·A becomes (out, in) used as Aᵀ·x, in its planned type, or
    /// in 8 bits under q4 and q8.
    /// </summary>
    private bool TryPackLora(CanonicalTensor t, TensorDType stored, TensorDType target, byte* slot, out WeightMatrix matrix)
    {
        int rows = t.Shape[0], cols = t.Shape[1];
        Span<byte> data = Read(t, stored);
        if (target == TensorDType.Q8)
        {
            float[] transposed = new float[t.ElementCount];
            TensorConversions.TransposeConvert(data, stored, rows, cols, MemoryMarshal.AsBytes(transposed.AsSpan()), TensorDType.F32);
            QuantizeRows(MemoryMarshal.AsBytes(transposed.AsSpan()), TensorDType.F32, t, slot, 0, cols, rows, TensorDType.Q8);
            matrix = new WeightMatrix(slot, cols, rows, TensorDType.Q8);
            return true;
        }

        if (options.MatrixType is null && target != stored && !TensorConversions.HoldsExactlyInBFloat16(data, stored))
        {
            if (stored != TensorDType.F16)
            {
                matrix = default;
                return false;
            }

            target = TensorDType.F16;
        }

        var destination = new Span<byte>(slot, checked((int)(t.ElementCount * target.SizeInBytes())));
        TensorConversions.TransposeConvert(data, stored, rows, cols, destination, target);
        matrix = new WeightMatrix(slot, cols, rows, target);
        return true;
    }

    /// <summary>The whole tensor as stored, in the reused scratch buffer.</summary>
    private Span<byte> Read(CanonicalTensor t, TensorDType stored)
    {
        Span<byte> data = Scratch(checked((int)(t.ElementCount * stored.SizeInBytes())));
        source.Read(t, data);
        return data;
    }

    private Span<byte> Scratch(int bytes)
    {
        if (_scratch.Length < bytes)
        {
            _scratch = new byte[bytes];
        }

        return _scratch.AsSpan(0, bytes);
    }

    /// <summary>
    /// Quantizes <paramref name="count"/> rows of <paramref name="cols"/> values, given in <paramref name="stored"/>,
    /// into rows [first, first + count) of the Q8 or Q4 (<paramref name="target"/>) matrix in <paramref name="slot"/>.
    /// </summary>
    private static void QuantizeRows(ReadOnlySpan<byte> data, TensorDType stored, CanonicalTensor t, byte* slot, int first, int count, int cols, TensorDType target)
    {
        bool q4 = target == TensorDType.Q4;
        int block = q4 ? Q4Block.Size : Q8Block.Size;
        if (cols % block != 0)
        {
            throw new RwkvException($"{t.Name}: rows of {cols} values cannot be split into {(q4 ? 4 : 8)}-bit blocks of {block}.");
        }

        int blocks = cols / block;
        int rowBytes = cols * stored.SizeInBytes();
        int packedRowBytes = q4 ? Q4Block.RowBytes(cols) : Q8Block.RowBytes(cols);
        int valueBytes = q4 ? cols / 2 : cols;

        // Rows are independent: quantized on every core (a row's rounding does not depend on which thread does it).
        fixed (byte* source = data)
        {
            byte* from = source;
            Parallel.For(0, count, () => new float[cols], (r, _, row) =>
            {
                TensorConversions.Convert(new ReadOnlySpan<byte>(from + ((long)r * rowBytes), rowBytes), stored, MemoryMarshal.AsBytes(row.AsSpan()), TensorDType.F32);
                byte* packed = slot + ((long)(first + r) * packedRowBytes);
                var scales = new Span<float>(packed + valueBytes, blocks);
                if (q4)
                {
                    Q4Quantizer.QuantizeRow(row, new Span<byte>(packed, valueBytes), scales);
                }
                else
                {
                    Q8Quantizer.QuantizeRow(row, new Span<sbyte>(packed, cols), scales);
                }

                return row;
            }, _ => { });
        }
    }
}
