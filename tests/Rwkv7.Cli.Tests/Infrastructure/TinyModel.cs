using System.Text;
using Rwkv7.Gen;

namespace Rwkv7.Cli.Tests.Infrastructure;

/// <summary>The tiny fixture model, loaded once, and the reference computations tests compare the CLI against.</summary>
internal static class TinyModel
{
    private static readonly Lazy<RwkvModel> Shared = new(() => RwkvModel.Load(Paths.TinyModel));

    public static RwkvModel Model => Shared.Value;

    /// <summary>Greedy decoding written out: feed the prompt, then repeatedly take the most likely token.</summary>
    public static byte[] GreedyContinuation(byte[] prompt, int tokens)
    {
        RwkvState state = Model.CreateState();
        float[] logits = new float[Model.Shape.Vocab];
        Model.Forward(prompt.Select(b => (int)b).ToArray(), state, logits);
        var output = new List<byte>();
        for (int i = 0; i < tokens; i++)
        {
            int next = Array.IndexOf(logits, logits.Max());
            output.Add((byte)next);
            Model.Forward(next, state, logits);
        }

        return [.. output];
    }

    public static string GreedyContinuation(string prompt, int tokens) =>
        Encoding.UTF8.GetString(GreedyContinuation(Encoding.UTF8.GetBytes(prompt), tokens));
}
