using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Rwkv7.Gen.StateFiles;

namespace Rwkv7.Gen.Tests.StateFiles;

public sealed class StateTuningFileTests : IDisposable
{
    private static readonly ModelShape Shape = new(Layers: 2, Embedding: 128, HeadSize: 64, Vocab: 16, Ffn: 512, DecayRank: 32, IclrRank: 32, ValueRank: 32, GateRank: 32);

    private readonly string _dir = Directory.CreateTempSubdirectory("rwkv7-state-tuning-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Time_state_is_read_transposed_into_the_value_by_key_state()
    {
        string path = Write("tuned.safetensors", Enumerable.Range(0, Shape.Layers).Select(i => ($"blocks.{i}.att.time_state", new[] { 2, 64, 64 })));
        var state = new RwkvState(Shape);
        state.AttX(0).Fill(5); // replaced: a tuned state starts with zero token shifts
        StateTuningFile.Load(path, state);

        for (int layer = 0; layer < Shape.Layers; layer++)
        {
            for (int h = 0; h < 2; h++)
            {
                // file[h][j][i] is S[i][j] after the official loader's transpose(1, 2).
                Assert.Equal(Value(layer, h, 3, 17), state.GetWkv(layer, h, valueIndex: 17, keyIndex: 3));
                Assert.Equal(Value(layer, h, 40, 2), state.GetWkv(layer, h, valueIndex: 2, keyIndex: 40));
            }

            Assert.All(state.AttX(layer).ToArray(), x => Assert.Equal(0f, x));
            Assert.All(state.FfnX(layer).ToArray(), x => Assert.Equal(0f, x));
        }
    }

    [Fact]
    public void Missing_and_misshapen_layers_are_all_reported_and_the_state_is_untouched()
    {
        string path = Write("bad.safetensors", [("blocks.0.att.time_state", [2, 64, 32]), ("blocks.2.att.time_state", [2, 64, 64])]);
        var state = new RwkvState(Shape);
        state.Data.Fill(1.5f);
        RwkvShapeException e = Assert.Throws<RwkvShapeException>(() => StateTuningFile.Load(path, state));
        Assert.Equal(3, e.Problems.Count);
        Assert.Contains(e.Problems, p => p.TensorName == "blocks.0.att.time_state" && p.Actual == "(2, 64, 32)");
        Assert.Contains(e.Problems, p => p.TensorName == "blocks.1.att.time_state" && p.Actual == "missing");
        Assert.Contains(e.Problems, p => p.TensorName == "blocks.2.att.time_state");
        Assert.All(state.Data.ToArray(), x => Assert.Equal(1.5f, x));
    }

    private static float Value(int layer, int h, int j, int i) => (layer * 1000) + (h * 100) + (j * 0.5f) + (i * 0.001f);

    /// <summary>Writes a minimal F32 safetensors file whose time_state elements encode their own indices.</summary>
    private string Write(string name, IEnumerable<(string Name, int[] Shape)> tensors)
    {
        var header = new StringBuilder("{");
        var data = new List<float>();
        foreach ((string tensor, int[] shape) in tensors)
        {
            int layer = int.Parse(tensor.Split('.')[1], CultureInfo.InvariantCulture);
            long begin = data.Count * 4L;
            for (int h = 0; h < shape[0]; h++)
            {
                for (int j = 0; j < shape[1]; j++)
                {
                    for (int i = 0; i < shape[2]; i++)
                    {
                        data.Add(Value(layer, h, j, i));
                    }
                }
            }

            header.Append(CultureInfo.InvariantCulture, $"\"{tensor}\":{{\"dtype\":\"F32\",\"shape\":[{string.Join(',', shape)}],\"data_offsets\":[{begin},{data.Count * 4L}]}},");
        }

        header.Length--;
        header.Append('}');
        byte[] json = Encoding.UTF8.GetBytes(header.ToString());
        string path = Path.Combine(_dir, name);
        using var file = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        file.Write(length);
        file.Write(json);
        file.Write(MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(data)));
        return path;
    }
}
