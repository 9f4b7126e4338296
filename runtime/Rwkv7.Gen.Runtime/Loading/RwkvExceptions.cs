namespace Rwkv7.Gen;

/// <summary>Base type of every error the Rwkv7.Gen runtime raises on purpose.</summary>
public class RwkvException : Exception
{
    /// <summary>Creates an error with a message.</summary>
    public RwkvException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an error with a message and the error that caused it.</summary>
    public RwkvException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A file is not a well-formed checkpoint (or state/vocabulary file) of the kind it claims to be: bad magic,
/// truncated data, an unsupported pickle opcode, offsets that point outside the file, and so on.
/// </summary>
public sealed class RwkvFormatException : RwkvException
{
    /// <summary>Creates a format error for <paramref name="filePath"/>.</summary>
    /// <param name="filePath">The file being read.</param>
    /// <param name="message">What was wrong, in words (the file path is prepended).</param>
    /// <param name="offset">Byte offset in the file where the problem was found, if known.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public RwkvFormatException(string filePath, string message, long? offset = null, Exception? innerException = null)
        : base(Compose(filePath, message, offset), innerException)
    {
        FilePath = filePath;
        Offset = offset;
        Detail = message;
    }

    /// <summary>The file that could not be read.</summary>
    public string FilePath { get; }

    /// <summary>Byte offset of the problem, when it is known.</summary>
    public long? Offset { get; }

    /// <summary>The message without the file name and offset.</summary>
    public string Detail { get; }

    private static string Compose(string filePath, string message, long? offset) =>
        offset is long o ? $"{filePath}: {message} (at byte {o})" : $"{filePath}: {message}";
}

/// <summary>One problem found while checking a checkpoint's tensors against the model shape.</summary>
/// <param name="TensorName">Canonical tensor name (RWKV-LM <c>state_dict</c> key).</param>
/// <param name="Expected">What was expected, e.g. <c>(768, 768)</c> or <c>present</c>.</param>
/// <param name="Actual">What the file holds, e.g. <c>(768, 64)</c> or <c>missing</c>.</param>
public sealed record TensorProblem(string TensorName, string Expected, string Actual)
{
    /// <inheritdoc />
    public override string ToString() => $"{TensorName}: expected {Expected}, found {Actual}";
}

/// <summary>
/// A checkpoint's tensors do not form a valid RWKV-7 model: tensors missing, unexpected or of the wrong
/// shape or element type. Every problem found is listed, not just the first.
/// </summary>
public sealed class RwkvShapeException : RwkvException
{
    /// <summary>Creates the error from the full list of problems.</summary>
    public RwkvShapeException(string filePath, IReadOnlyList<TensorProblem> problems)
        : base(Compose(filePath, problems))
    {
        FilePath = filePath;
        Problems = problems;
    }

    /// <summary>The checkpoint that was checked.</summary>
    public string FilePath { get; }

    /// <summary>Every problem found.</summary>
    public IReadOnlyList<TensorProblem> Problems { get; }

    private static string Compose(string filePath, IReadOnlyList<TensorProblem> problems)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(filePath).Append(": not a valid RWKV-7 checkpoint, ")
          .Append(problems.Count).Append(problems.Count == 1 ? " problem:" : " problems:");
        foreach (TensorProblem p in problems)
        {
            sb.Append("\n  ").Append(p);
        }

        return sb.ToString();
    }
}
