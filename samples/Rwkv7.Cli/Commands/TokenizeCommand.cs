using System.CommandLine;
using System.Globalization;
using System.Text;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen.Text;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// <c>rwkv7 tokenize</c>: token ids of text, which comes from the argument or from standard input read exactly as
/// given (bytes, nothing added or removed). Prints the ids separated by spaces, or with <c>--pieces</c> one token
/// per line: its id, a tab and its bytes quoted (<see cref="EscapedText.Quote"/>).
/// </summary>
internal static class TokenizeCommand
{
    public static Command Create(CliConsole console)
    {
        var text = new Argument<string?>("text")
        {
            Description = "the text to tokenize; without it, standard input, read byte for byte",
            Arity = ArgumentArity.ZeroOrOne,
        };
        Option<string?> vocab = ModelOptions.VocabularyOption($"the World vocabulary (default: ${ModelOptions.VocabularyVariable})");
        Option<bool> bytes = CliOptions.Flag("--bytes", "byte-level tokens (models of 256 tokens) instead of a vocabulary");
        Option<bool> pieces = CliOptions.Flag("--pieces", "one token per line: its id, a tab and its bytes quoted");

        var command = new Command("tokenize", "Print the token ids of a text.") { text, vocab, bytes, pieces };
        command.SetAction(parse => Run(
            console, parse.GetValue(text), parse.GetValue(vocab), parse.ValueOrEnvironment(vocab, console, ModelOptions.VocabularyVariable),
            parse.GetValue(bytes), parse.GetValue(pieces)));
        return command;
    }

    private static int Run(CliConsole console, string? text, string? vocabularyOption, string? vocabulary, bool bytes, bool pieces)
    {
        if (bytes && vocabularyOption is not null)
        {
            throw new UsageException("tokenize takes --vocab FILE or --bytes, not both");
        }

        if (!bytes && vocabulary is null)
        {
            throw new UsageException($"tokenize needs --vocab FILE (or the {ModelOptions.VocabularyVariable} environment variable), or --bytes for byte-level models");
        }

        if (text is null && !console.IsInputRedirected)
        {
            throw new UsageException("tokenize needs text: an argument, or text piped to standard input");
        }

        RwkvTokenizer tokenizer = bytes ? ByteTokenizer.Instance : WorldTokenizer.Load(vocabulary!);
        byte[] utf8 = text is null ? console.ReadAllInput() : Encoding.UTF8.GetBytes(text);
        int[] ids = new int[utf8.Length];
        ids = ids[..tokenizer.EncodeUtf8(utf8, ids)];
        if (pieces)
        {
            foreach (int id in ids)
            {
                console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{id}\t{EscapedText.Quote(tokenizer.GetTokenBytes(id))}"));
            }
        }
        else
        {
            console.Out.WriteLine(string.Join(' ', ids.Select(id => id.ToString(CultureInfo.InvariantCulture))));
        }

        return 0;
    }
}
