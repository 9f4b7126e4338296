using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Rwkv7.Gen;

namespace Rwkv7.Cli.Tests.Infrastructure;

/// <summary>
/// A small random model with the World vocabulary's 65,536 logits (L2, the tiny model's widths), written once as
/// BF16 safetensors into a temporary folder, so the CLI's World-tokenizer paths run without a real checkpoint.
/// Its text is nonsense; what matters is that the World tokenizer is chosen and used.
/// </summary>
internal static class WorldSizedModel
{
    public static readonly ModelShape Shape = new(
        Layers: 2, Embedding: 64, HeadSize: 64, Vocab: 65536, Ffn: 256, DecayRank: 32, IclrRank: 32, ValueRank: 32, GateRank: 32);

    private static readonly Lazy<string> Folder = new(Create);

    /// <summary>The folder holding <c>model.safetensors</c> (and nothing else).</summary>
    public static string Directory => Folder.Value;

    public static string ModelPath => Path.Combine(Directory, "model.safetensors");

    private static string Create()
    {
        string folder = Path.Combine(Path.GetTempPath(), "rwkv7-cli-tests-world-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(folder);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => System.IO.Directory.Delete(folder, recursive: true);

        List<CanonicalTensor> tensors = [.. CanonicalTensors.For(Shape)];
        using var header = new MemoryStream();
        long offset = 0;
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            foreach (CanonicalTensor t in tensors)
            {
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", "BF16");
                json.WriteStartArray("shape");
                foreach (int d in t.Shape)
                {
                    json.WriteNumberValue(d);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset += t.ElementCount * 2);
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        while (header.Length % 8 != 0)
        {
            header.WriteByte((byte)' ');
        }

        using FileStream file = File.Create(Path.Combine(folder, "model.safetensors"));
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, header.Length);
        file.Write(length);
        header.WriteTo(file);
        var random = new Random(5);
        byte[] element = new byte[2];
        using var data = new BufferedStream(file, 1 << 20);
        foreach (CanonicalTensor t in tensors)
        {
            // Small values keep every activation finite; LayerNorm weights near 1 keep the signal alive.
            bool norm = t.Name.Contains(".ln", StringComparison.Ordinal) && t.Name.EndsWith(".weight", StringComparison.Ordinal);
            for (long i = 0; i < t.ElementCount; i++)
            {
                float value = (norm ? 1f : 0f) + ((float)random.NextDouble() - 0.5f) * 0.2f;
                BinaryPrimitives.WriteUInt16LittleEndian(element, (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16));
                data.Write(element);
            }
        }

        return folder;
    }

    /// <summary>The UTF-8 length of <paramref name="text"/> (what a byte tokenizer would count).</summary>
    public static int ByteCount(string text) => Encoding.UTF8.GetByteCount(text);
}
