using System.Diagnostics;
using Rwkv7.Gen;
using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Sessions;
using Rwkv7.Gen.Text;

// A minimal host for one RWKV-7 model: load the weights, continue a prompt, stream the text.
//   rwkv7-embed MODEL PROMPT [MAX_TOKENS]
// World-vocabulary models read rwkv_vocab_v20230424.txt from the model's folder; 256-token models need none.
// The time to the first token goes to standard error.
if (args.Length is < 2 or > 3 || (args.Length == 3 && !int.TryParse(args[2], out _)))
{
    Console.Error.WriteLine("usage: rwkv7-embed MODEL PROMPT [MAX_TOKENS]");
    return 2;
}

long start = Stopwatch.GetTimestamp();
int maxTokens = args.Length == 3 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 64;
try
{
    using RwkvModel model = RwkvModel.Load(args[0]);
    string vocabulary = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(args[0]))!, WorldTokenizer.VocabularyFileName);
    RwkvTokenizer tokenizer = RwkvTokenizers.ForModel(model.Shape, File.Exists(vocabulary) ? vocabulary : null);

    var session = new RwkvSession(model, tokenizer);
    session.Append(args[1]);
    var options = new GenerationOptions { MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy };
    bool first = true;
    await foreach (string piece in session.GenerateStreamingAsync(options))
    {
        Console.Out.Write(piece);
        if (first)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"[first token after {Stopwatch.GetElapsedTime(start).TotalMilliseconds:0.0} ms on the {model.EngineName} engine]");
            first = false;
        }
    }

    Console.Out.WriteLine();
    return 0;
}
catch (Exception e) when (e is RwkvException or IOException or ArgumentException)
{
    Console.Error.WriteLine($"rwkv7-embed: {e.Message}");
    return 1;
}
