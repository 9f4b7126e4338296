using System.CommandLine;
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
    public static Command Create(CliConsole console)
    {
        Option<string?> tokens = CliOptions.Text("--tokens", "ID,ID,...", "the token ids to feed from the zero state");
        Option<bool> all = CliOptions.Flag("--all", "write the logits of every token ([T][V]), not only of the last ([V])");
        Option<string?> output = CliOptions.Text("--out", "FILE", "where to write the logits (float32, little-endian)");
        var model = new ModelOptions();
        var command = new Command("logits", "Feed token ids and write the logits the model gives them.") { tokens, all, output };
        model.AddTo(command, vocabulary: false);
        command.SetAction(parse => Run(
            console, ParseTokens(parse.GetValue(tokens) ?? throw new UsageException("logits needs --tokens")), parse.GetValue(all),
            parse.GetValue(output) ?? throw new UsageException("logits needs --out"), model.Read(parse, console)));
        return command;
    }

    private static int Run(CliConsole console, int[] tokens, bool all, string outPath, ModelRequest request)
    {
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
