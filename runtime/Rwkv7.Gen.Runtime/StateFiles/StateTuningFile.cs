using System.Globalization;
using System.Runtime.InteropServices;
using Rwkv7.Gen.Loading;

namespace Rwkv7.Gen.StateFiles;

/// <summary>
/// Reads RWKV state-tuning files: checkpoints (<c>.pth</c> or safetensors) holding, for every layer i, a tensor
/// <c>blocks.{i}.att.time_state</c> of shape (H, 64, 64) that replaces the zero WKV state as the starting point of a
/// sequence. The official loader uses <c>time_state.transpose(1, 2)</c> as its state S[i][j] (value i, key j), so
/// the file holds S transposed, [h][key j][value i]; the token-shift vectors start at zero.
/// </summary>
public static class StateTuningFile
{
    /// <summary>Loads a state-tuning file into <paramref name="target"/> (left untouched if the file does not fit).</summary>
    /// <exception cref="RwkvFormatException">The file cannot be parsed.</exception>
    /// <exception cref="RwkvShapeException">A layer's tensor is missing or of the wrong shape for the model.</exception>
    public static void Load(string path, RwkvState target)
    {
        ArgumentNullException.ThrowIfNull(target);
        using Checkpoint checkpoint = Checkpoint.Open(path);
        ModelShape shape = target.Shape;
        int n = shape.HeadSize, area = n * n, perLayer = shape.Heads * area;
        var problems = new List<TensorProblem>();
        var tensors = new CheckpointTensor[shape.Layers];
        int[] expected = [shape.Heads, n, n];
        for (int i = 0; i < shape.Layers; i++)
        {
            string name = string.Create(CultureInfo.InvariantCulture, $"blocks.{i}.att.time_state");
            CheckpointTensor? t = checkpoint.Find(name);
            if (t is null)
            {
                problems.Add(new TensorProblem(name, CheckpointTensor.FormatShape(expected), "missing"));
            }
            else if (!t.Shape.SequenceEqual(expected))
            {
                problems.Add(new TensorProblem(name, CheckpointTensor.FormatShape(expected), t.ShapeText));
            }
            else
            {
                tensors[i] = t;
            }
        }

        string extra = string.Create(CultureInfo.InvariantCulture, $"blocks.{shape.Layers}.att.time_state");
        if (checkpoint.Find(extra) is { } more)
        {
            problems.Add(new TensorProblem(more.Name, $"absent: the model has {shape.Layers} layers", more.ShapeText));
        }

        if (problems.Count > 0)
        {
            throw new RwkvShapeException(path, problems);
        }

        // Read everything first, so a failure part-way leaves the target as it was.
        float[] canonical = new float[shape.Layers * perLayer];
        byte[] raw = [];
        float[] file = new float[perLayer];
        for (int i = 0; i < shape.Layers; i++)
        {
            CheckpointTensor t = tensors[i];
            if (raw.Length < t.ByteLength)
            {
                raw = new byte[t.ByteLength];
            }

            t.ReadTo(raw.AsSpan(0, (int)t.ByteLength));
            SafetensorsWriter.ConvertElements(raw.AsSpan(0, (int)t.ByteLength), t.DType, MemoryMarshal.AsBytes(file.AsSpan()), TensorDType.F32);
            Span<float> layer = canonical.AsSpan(i * perLayer, perLayer);
            for (int h = 0; h < shape.Heads; h++)
            {
                for (int j = 0; j < n; j++)
                {
                    for (int v = 0; v < n; v++)
                    {
                        layer[(h * area) + (v * n) + j] = file[(h * area) + (j * n) + v];
                    }
                }
            }
        }

        target.Reset();
        for (int i = 0; i < shape.Layers; i++)
        {
            target.SetWkvCanonical(i, canonical.AsSpan(i * perLayer, perLayer));
        }
    }
}
