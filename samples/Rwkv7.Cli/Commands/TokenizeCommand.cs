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
    public const string Usage = "tokenize [TEXT | < FILE] (--vocab FILE | --bytes) [--pieces]";

    public static int Run(CommandArguments args, CliConsole console)
    {
        string? text = args.SinglePositional("text");
        bool bytes = args.Flag("bytes");
        bool pieces = args.Flag("pieces");
        string? vocabulary = ModelOptions.ParseVocabulary(args);
        args.EnsureAllUsed();
        if (bytes && args.Option("vocab") is not null)
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
