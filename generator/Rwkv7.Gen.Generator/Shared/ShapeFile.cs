// Shared by the source generator (netstandard2.0) and the runtime (net10.0): what the shape-file parser produces.
// Keep this file free of APIs the two do not share.
using System;
using System.Collections.Generic;

namespace Rwkv7.Gen.Shapes
{
    /// <summary>The kinds of mistake a shape file can contain; each maps to one diagnostic id.</summary>
    internal enum ShapeFileErrorKind
    {
        /// <summary>A line that is neither blank, a comment, nor <c>key = value</c>.</summary>
        MalformedLine,

        /// <summary>A key the format does not define.</summary>
        UnknownKey,

        /// <summary>A key given twice.</summary>
        DuplicateKey,

        /// <summary>A required key is absent.</summary>
        MissingKey,

        /// <summary>A number that is not a positive integer within its key's limit.</summary>
        NotPositiveInteger,

        /// <summary>A head size other than 64.</summary>
        UnsupportedHeadSize,

        /// <summary>An embedding width that is not a multiple of the head size.</summary>
        EmbeddingNotMultipleOfHeadSize,

        /// <summary>An FFN width or LoRA rank that is not a multiple of the kernels' step (32).</summary>
        NotMultipleOfStep,

        /// <summary>A model, type or namespace name that is not valid.</summary>
        InvalidName,

        /// <summary>A <c>weights</c> list that is empty, names an unknown weight type, or names one twice.</summary>
        InvalidWeightTypes,
    }

    /// <summary>One mistake, with its position (0-based line and column, absolute character offset and length).</summary>
    internal sealed class ShapeFileError
    {
        public ShapeFileError(ShapeFileErrorKind kind, string message, int line, int column, int start, int length)
        {
            Kind = kind;
            Message = message;
            Line = line;
            Column = column;
            Start = start;
            Length = length;
        }

        public ShapeFileErrorKind Kind { get; }

        public string Message { get; }

        public int Line { get; }

        public int Column { get; }

        public int Start { get; }

        public int Length { get; }

        public override string ToString() => $"({Line + 1},{Column + 1}): {Message}";
    }

    /// <summary>
    /// The nine numbers of a shape file, with value equality: what the generator's <c>ShapeSpec</c> carries through its
    /// pipeline, and what the runtime turns into its public <c>ModelShape</c> (same names, same order).
    /// </summary>
    /// <param name="Layers">Number of blocks, L.</param>
    /// <param name="Embedding">Embedding width, D.</param>
    /// <param name="HeadSize">Channels per head, N.</param>
    /// <param name="Vocab">Vocabulary size, V.</param>
    /// <param name="Ffn">Channel-mix hidden width.</param>
    /// <param name="DecayRank">Rank of the decay LoRA.</param>
    /// <param name="IclrRank">Rank of the in-context learning rate LoRA.</param>
    /// <param name="ValueRank">Rank of the value-residual LoRA.</param>
    /// <param name="GateRank">Rank of the output gate LoRA.</param>
    internal sealed record ShapeNumbers(
        int Layers, int Embedding, int HeadSize, int Vocab, int Ffn, int DecayRank, int IclrRank, int ValueRank, int GateRank)
    {
        /// <summary>Every number 0: a file before (or without) its keys.</summary>
        public static readonly ShapeNumbers None = new ShapeNumbers(0, 0, 0, 0, 0, 0, 0, 0, 0);

        /// <summary>Number of heads, H = D / N.</summary>
        public int Heads => Embedding / HeadSize;
    }

    /// <summary>The content of a shape file. Numbers are 0 when absent or invalid; check <see cref="Errors"/> first.</summary>
    internal sealed class ShapeFile
    {
        public string Model { get; set; } = "";

        /// <summary>The generated type's name: from the <c>type</c> key, or derived from the model name.</summary>
        public string TypeName { get; set; } = "";

        public string Namespace { get; set; } = ShapeFileParser.DefaultNamespace;

        /// <summary>The numbers, each 0 until its key is read.</summary>
        public ShapeNumbers Numbers { get; set; } = ShapeNumbers.None;

        /// <summary>The weight types to generate matrix kernels for; all by default.</summary>
        public WeightType WeightTypes { get; set; } = WeightTypeSet.All;

        public List<ShapeFileError> Errors { get; } = new List<ShapeFileError>();

        /// <summary>Where each key's value was written: zero-based line and column, start and length in the text.</summary>
        public Dictionary<string, (int Line, int Column, int Start, int Length)> ValuePositions { get; } =
            new Dictionary<string, (int Line, int Column, int Start, int Length)>(StringComparer.Ordinal);

        public bool IsValid => Errors.Count == 0;
    }
}
