using System.Globalization;
using System.Runtime.InteropServices;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 logits --model PATH --tokens 34,105,110 [--all] --out FILE</c>: feeds token ids from the zero state and
/// writes float32 little-endian logits: of the last token ([V]), or of every token with --all ([T][V], row-major).
/// </summary>
internal static class LogitsCommand
{
    public const string Usage = "logits --tokens ID,ID,... [--all] --out FILE " + ModelOptions.Usage;

    public static int Run(CommandArguments args, CliConsole console)
    {
        int[] tokens = ParseTokens(args.Required("tokens"));
        bool all = args.Flag("all");
        string outPath = args.Required("out");
        ModelRequest request = ModelOptions.Parse(args);
        args.EnsureAllUsed();
        using RwkvModel model = ModelOptions.Load(request, console);

        int v = model.Shape.Vocab;
        foreach (int t in tokens)
        {
            if (t < 0 || t >= v)
            {
                throw new UsageException($"token {t} is outside the model's vocabulary [0, {v})");
            }
        }

        RwkvState state = model.CreateState();
        float[] logits = new float[(all ? tokens.Length : 1) * v];
        if (all)
        {
            model.ForwardAll(tokens, state, logits);
        }
        else
        {
            model.Forward(tokens, state, logits);
        }

        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Writing little-endian floats on a big-endian machine is not implemented.");
        }

        File.WriteAllBytes(outPath, MemoryMarshal.AsBytes(logits.AsSpan()).ToArray());
        console.Out.WriteLine(string.Format(
            CultureInfo.InvariantCulture, "wrote {0} x {1} float32 logits to {2} ({3})", all ? tokens.Length : 1, v, outPath, model.EngineName));
        return 0;
    }

    private static int[] ParseTokens(string text)
    {
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries);
        var tokens = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out tokens[i]))
            {
                throw new UsageException($"--tokens must be comma-separated non-negative integers; '{parts[i]}' is not");
            }
        }

        return tokens;
    }
}
