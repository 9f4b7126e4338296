using System.CommandLine;
using System.CommandLine.Parsing;

namespace Rwkv7.Cli.CommandLine;

/// <summary>
/// Turns what the parser found wrong with a command line into the one sentence the program prints: the root cause
/// first (an unknown option or command, with the nearest names; a value nobody takes), then the first error in the
/// order the parser met them, in this program's words (<c>--model is given twice</c>, <c>--model needs a value</c>).
/// </summary>
internal static class UsageErrors
{
    /// <summary>The first mistake in <paramref name="parse"/> as one sentence, or null when it has none.</summary>
    /// <param name="parse">The parsed command line.</param>
    /// <param name="args">The words it was parsed from (the parser splits <c>--name=value</c>; a switch given a value is found here).</param>
    /// <remarks>
    /// A switch given a value and an unknown option are found even where the parser saw no error, because it takes
    /// such a word as the command's positional value (<c>generate --sed</c> would continue the prompt "--sed").
    /// </remarks>
    public static string? Describe(ParseResult parse, IReadOnlyList<string> args)
    {
        CommandResult commandResult = parse.CommandResult;
        Command command = commandResult.Command;
        bool atRoot = commandResult.Parent is null;
        List<Option> options = VisibleOptions(commandResult);

        // A switch given a value (--stats=yes): the parser would pass the value on as a positional argument.
        foreach (string arg in args.TakeWhile(a => a != "--"))
        {
            if (SplitName(arg) is { } name && name.Length < arg.Length && Find(options, name) is { Arity.MaximumNumberOfValues: 0 })
            {
                return $"{name} takes no value";
            }
        }

        // An option nobody takes: unmatched, or taken as the command's positional value (the parser does that to any
        // word it does not know). Words after a lone "--" are values, whatever they look like.
        HashSet<Token> optionValues = new(ReferenceEqualityComparer.Instance);
        foreach (OptionResult result in OptionResults(commandResult))
        {
            optionValues.UnionWith(result.Tokens);
        }

        foreach (Token token in parse.Tokens.TakeWhile(t => t.Type != TokenType.DoubleDash))
        {
            if (token.Type == TokenType.Argument && !optionValues.Contains(token) && SplitName(token.Value) is { } unknown)
            {
                string nearest = Suggestions.DidYouMean(unknown, options.SelectMany(Names));
                return atRoot ? $"unknown option {unknown}{nearest}" : $"{command.Name} does not take {unknown}{nearest}";
            }
        }

        if (parse.Errors.Count == 0)
        {
            return null;
        }

        if (parse.UnmatchedTokens.Count > 0)
        {
            string extra = parse.UnmatchedTokens[0];
            if (atRoot)
            {
                return $"unknown command '{extra}'{Suggestions.DidYouMean(extra, command.Subcommands.Select(c => c.Name))}";
            }

            if (command.Arguments.Count == 1 && parse.GetResult(command.Arguments[0]) is { } positional)
            {
                int count = positional.Tokens.Count + parse.UnmatchedTokens.Count;
                return $"{command.Name} takes one {positional.Argument.Name}, not {count} (quote it if it has spaces): '{extra}' is extra";
            }

            return $"{command.Name} does not take '{extra}'";
        }

        if (atRoot && parse.Errors.Any(e => e.SymbolResult == commandResult))
        {
            return "no command given";
        }

        ParseError first = parse.Errors[0];
        if (first.SymbolResult is OptionResult { Option: var option } given)
        {
            if (given.IdentifierTokenCount > 1 && option.Arity.MaximumNumberOfValues == 1)
            {
                return $"{option.Name} is given twice";
            }

            if (given.Tokens.Count == 0 && option.Arity.MinimumNumberOfValues > 0)
            {
                return $"{option.Name} needs a value";
            }
        }

        return first.Message.TrimEnd('.');
    }

    /// <summary>The help command for the command line's command: <c>rwkv7 generate --help</c>.</summary>
    public static string HelpCommand(ParseResult parse)
    {
        var names = new List<string>();
        for (SymbolResult? r = parse.CommandResult; r is CommandResult c; r = c.Parent)
        {
            names.Insert(0, c.Command.Name);
        }

        return $"{string.Join(' ', names)} --help";
    }

    /// <summary>The option name a word spells (<c>--name</c>, or <c>--name</c> of <c>--name=value</c>), or null.</summary>
    private static string? SplitName(string word)
    {
        if (word.Length <= 2 || !word.StartsWith("--", StringComparison.Ordinal))
        {
            return null;
        }

        int separator = word.IndexOfAny(['=', ':']);
        return separator > 2 ? word[..separator] : separator < 0 ? word : null;
    }

    private static Option? Find(List<Option> options, string name) =>
        options.FirstOrDefault(o => o.Name == name || o.Aliases.Contains(name));

    private static IEnumerable<string> Names(Option option) => option.Hidden ? [] : [option.Name, .. option.Aliases];

    /// <summary>The options a command accepts: its own and its parents' recursive ones (--verbose, --help).</summary>
    private static List<Option> VisibleOptions(CommandResult result)
    {
        var options = new List<Option>(result.Command.Options);
        for (SymbolResult? r = result.Parent; r is CommandResult parent; r = parent.Parent)
        {
            options.AddRange(parent.Command.Options.Where(o => o.Recursive));
        }

        return options;
    }

    private static IEnumerable<OptionResult> OptionResults(CommandResult result)
    {
        for (SymbolResult? r = result; r is CommandResult c; r = c.Parent)
        {
            foreach (OptionResult option in c.Children.OfType<OptionResult>())
            {
                yield return option;
            }
        }
    }
}
