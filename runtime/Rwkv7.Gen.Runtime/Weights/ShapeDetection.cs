using System.Globalization;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.Weights;

/// <summary>
/// Works out a checkpoint's <see cref="ModelShape"/> from its tensors, then checks every tensor against that
/// shape, collecting all problems (missing, unexpected, wrongly shaped) instead of stopping at the first.
/// </summary>
internal static class ShapeDetection
{
    /// <summary>Detects the shape and validates every tensor; throws <see cref="RwkvShapeException"/> listing all problems.</summary>
    public static ModelShape DetectAndValidate(Checkpoint checkpoint)
    {
        var problems = new List<TensorProblem>();
        ModelShape shape = Detect(checkpoint, problems);
        Validate(checkpoint, shape, problems);
        if (problems.Count > 0)
        {
            throw new RwkvShapeException(checkpoint.FilePath, problems);
        }

        return shape;
    }

    private static ModelShape Detect(Checkpoint checkpoint, List<TensorProblem> problems)
    {
        CheckpointTensor? table = Matrix(checkpoint, "emb.weight") ?? Matrix(checkpoint, "head.weight");
        if (table is null)
        {
            problems.Add(new TensorProblem("emb.weight", "a (vocab, embedding) matrix", "missing"));
            throw new RwkvShapeException(checkpoint.FilePath, problems);
        }

        int vocab = table.Shape[0];
        int embedding = table.Shape[1];

        int layers = 0;
        foreach (CheckpointTensor t in checkpoint.Tensors)
        {
            if (TryGetBlockIndex(t.Name, out int index) && index >= layers)
            {
                layers = index + 1;
            }
        }

        if (layers == 0)
        {
            problems.Add(new TensorProblem("blocks.0.*", "at least one block", "no tensor named blocks.N.*"));
            throw new RwkvShapeException(checkpoint.FilePath, problems);
        }

        int headSize = ModelShape.SupportedHeadSize;
        if (Matrix(checkpoint, "blocks.0.att.r_k") is { } rk)
        {
            headSize = rk.Shape[1];
        }

        if (headSize != ModelShape.SupportedHeadSize)
        {
            problems.Add(new TensorProblem(
                "blocks.0.att.r_k", $"(heads, {ModelShape.SupportedHeadSize}): head size 64 is the only one supported", $"head size {headSize}"));
            headSize = ModelShape.SupportedHeadSize;
        }

        if (embedding % headSize != 0 || embedding == 0)
        {
            problems.Add(new TensorProblem(
                table.Name, $"an embedding width that is a positive multiple of the head size {headSize}", table.ShapeText));
            throw new RwkvShapeException(checkpoint.FilePath, problems);
        }

        int ffn = Matrix(checkpoint, "blocks.0.ffn.key.weight")?.Shape[0] ?? 4 * embedding;
        int decayRank = Matrix(checkpoint, "blocks.0.att.w1")?.Shape[1] ?? 0;
        int iclrRank = Matrix(checkpoint, "blocks.0.att.a1")?.Shape[1] ?? 0;
        int gateRank = Matrix(checkpoint, "blocks.0.att.g1")?.Shape[1] ?? 0;
        int valueRank = (Matrix(checkpoint, "blocks.1.att.v1") ?? Matrix(checkpoint, "blocks.0.att.v1"))?.Shape[1] ?? 0;

        return new ModelShape(layers, embedding, headSize, vocab, ffn, decayRank, iclrRank, valueRank, gateRank);
    }

    private static void Validate(Checkpoint checkpoint, ModelShape shape, List<TensorProblem> problems)
    {
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (CanonicalTensor want in CanonicalTensors.For(shape))
        {
            expected.Add(want.Name);
            CheckpointTensor? have = checkpoint.Find(want.Name);
            if (have is null)
            {
                problems.Add(new TensorProblem(want.Name, CheckpointTensor.FormatShape(want.Shape), "missing"));
            }
            else if (!have.Shape.SequenceEqual(want.Shape))
            {
                problems.Add(new TensorProblem(want.Name, CheckpointTensor.FormatShape(want.Shape), have.ShapeText));
            }
        }

        foreach (CheckpointTensor t in checkpoint.Tensors)
        {
            if (!expected.Contains(t.Name) && !CanonicalTensors.IsIgnorable(t.Name))
            {
                problems.Add(new TensorProblem(t.Name, "no such tensor in an RWKV-7 model", $"{t.ShapeText} {t.DType.DisplayName()}"));
            }
        }
    }

    private static CheckpointTensor? Matrix(Checkpoint checkpoint, string name) =>
        checkpoint.Find(name) is { Shape.Count: 2 } t ? t : null;

    private static bool TryGetBlockIndex(string name, out int index)
    {
        index = -1;
        if (!name.StartsWith("blocks.", StringComparison.Ordinal))
        {
            return false;
        }

        int end = name.IndexOf('.', 7);
        return end > 7
            && int.TryParse(name.AsSpan(7, end - 7), NumberStyles.None, CultureInfo.InvariantCulture, out index)
            && index < 100_000;
    }
}
