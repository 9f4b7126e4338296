namespace Rwkv7.Gen.Loading;

/// <summary>
/// One tensor of a checkpoint, described by its canonical RWKV-LM name and PyTorch dimension order, whatever
/// the container stores (rwkv.cpp files reverse dimensions, merge and transpose some tensors: readers undo that).
/// </summary>
public abstract class CheckpointTensor
{
    /// <summary>Creates a tensor description.</summary>
    protected CheckpointTensor(string name, int[] shape, TensorDType dtype)
    {
        Name = name;
        Shape = shape;
        DType = dtype;
        long count = 1;
        foreach (int d in shape)
        {
            count *= d;
        }

        ElementCount = count;
    }

    /// <summary>Canonical name, e.g. <c>blocks.3.att.key.weight</c>.</summary>
    public string Name { get; }

    /// <summary>Canonical dimensions, outermost first (PyTorch order).</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Element type as stored.</summary>
    public TensorDType DType { get; }

    /// <summary>Product of the dimensions.</summary>
    public long ElementCount { get; }

    /// <summary>Bytes the tensor occupies in <see cref="DType"/>.</summary>
    public long ByteLength => ElementCount * DType.SizeInBytes();

    /// <summary>Shape written as in PyTorch, e.g. <c>(768, 64)</c>.</summary>
    public string ShapeText => FormatShape(Shape);

    /// <summary>
    /// Copies the elements, in <see cref="DType"/> and canonical row-major order, into <paramref name="destination"/>,
    /// which must be exactly <see cref="ByteLength"/> bytes long.
    /// </summary>
    /// <exception cref="RwkvFormatException">The file is truncated or unreadable.</exception>
    public void ReadTo(Span<byte> destination)
    {
        if (destination.Length != ByteLength)
        {
            throw new ArgumentException(
                $"Tensor '{Name}' holds {ByteLength} bytes; the destination has {destination.Length}.", nameof(destination));
        }

        ReadCore(destination);
    }

    /// <summary>Reads the data; <paramref name="destination"/> has been checked to be <see cref="ByteLength"/> long.</summary>
    protected abstract void ReadCore(Span<byte> destination);

    /// <summary>
    /// Copies rows [<paramref name="firstRow"/>, <paramref name="firstRow"/> + <paramref name="rowCount"/>) of a tensor
    /// (rows along the first dimension) into <paramref name="destination"/>, which must hold exactly those rows. Lets
    /// loaders convert large tensors in pieces instead of holding a second full copy.
    /// </summary>
    public void ReadRowsTo(int firstRow, int rowCount, Span<byte> destination)
    {
        int rows = Shape.Count == 0 ? 1 : Shape[0];
        long rowBytes = rows == 0 ? 0 : ByteLength / rows;
        if (firstRow < 0 || rowCount < 0 || firstRow > rows - rowCount)
        {
            throw new ArgumentOutOfRangeException(nameof(rowCount), $"Rows [{firstRow}, {firstRow + rowCount}) of tensor '{Name}' with {rows} rows.");
        }

        if (destination.Length != rowCount * rowBytes)
        {
            throw new ArgumentException($"{rowCount} rows of tensor '{Name}' hold {rowCount * rowBytes} bytes; the destination has {destination.Length}.", nameof(destination));
        }

        ReadRowsCore(firstRow, rowCount, rowBytes, destination);
    }

    /// <summary>
    /// Reads whole rows; arguments are checked. The default reads the whole tensor and copies the rows out (correct for
    /// any layout); tensors stored contiguously override it with a partial read.
    /// </summary>
    protected virtual void ReadRowsCore(int firstRow, int rowCount, long rowBytes, Span<byte> destination)
    {
        byte[] all = new byte[ByteLength];
        ReadCore(all);
        all.AsSpan((int)(firstRow * rowBytes), destination.Length).CopyTo(destination);
    }

    /// <summary>Formats dimensions as PyTorch prints them.</summary>
    public static string FormatShape(IReadOnlyList<int> shape) =>
        shape.Count == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";

    /// <inheritdoc />
    public override string ToString() => $"{Name} {ShapeText} {DType.DisplayName()}";
}
