using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Rwkv7.Cli.CommandLine;

/// <summary>
/// Makes the options of every command: typed values parsed by hand (no reflection), each with the message a
/// mistake gets (<c>--top-p must be a number in (0, 1], not '0'</c>), its placeholder in the help
/// (<c>--top-p &lt;P&gt;</c>) and, where there is one, the default the help shows.
/// </summary>
/// <remarks>
/// Option names are written with their dashes (<c>--max-tokens</c>) and messages name the option as the user typed
/// it. A value may start with a dash (<c>--presence -0.5</c>); an option that takes one value refuses a second
/// (<see cref="UsageErrors"/>).
/// </remarks>
internal static class CliOptions
{
    /// <summary>A switch: present or not, never with a value.</summary>
    public static Option<bool> Flag(string name, string description) =>
        new(name) { Description = description, Arity = ArgumentArity.Zero };

    /// <summary>A text value given at most once, or null.</summary>
    public static Option<string?> Text(string name, string placeholder, string description) =>
        new(name) { Description = description, HelpName = placeholder };

    /// <summary>A text value that may be given several times (<c>--stop a --stop b</c>), in order.</summary>
    public static Option<string[]> Repeated(string name, string placeholder, string description) =>
        new(name) { Description = description, HelpName = placeholder, Arity = ArgumentArity.OneOrMore, DefaultValueFactory = _ => [] };

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>], <paramref name="defaultValue"/> when absent.</summary>
    public static Option<int> Int(string name, string placeholder, string description, int defaultValue, int min = int.MinValue, int max = int.MaxValue) =>
        new(name)
        {
            Description = description,
            HelpName = placeholder,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r => ParseInt(r, name, min, max),
        };

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>], or null when absent.</summary>
    public static Option<int?> OptionalInt(string name, string placeholder, string description, int min = int.MinValue, int max = int.MaxValue) =>
        new(name) { Description = description, HelpName = placeholder, CustomParser = r => ParseInt(r, name, min, max) };

    /// <summary>A 64-bit integer, or null when absent.</summary>
    public static Option<long?> OptionalLong(string name, string placeholder, string description) =>
        new(name)
        {
            Description = description,
            HelpName = placeholder,
            CustomParser = r =>
            {
                string text = Single(r);
                if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value))
                {
                    return value;
                }

                r.AddError($"{name} must be a 64-bit integer, not '{text}'");
                return null;
            },
        };

    /// <summary>
    /// A finite number in [<paramref name="min"/>, <paramref name="max"/>] (the lower end open when
    /// <paramref name="minExclusive"/>), <paramref name="defaultValue"/> when absent.
    /// </summary>
    public static Option<float> Float(
        string name, string placeholder, string description, float defaultValue,
        float min = float.MinValue, float max = float.MaxValue, bool minExclusive = false) =>
        new(name)
        {
            Description = description,
            HelpName = placeholder,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r =>
            {
                string text = Single(r);
                if (float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) && float.IsFinite(value)
                    && value >= min && value <= max && !(minExclusive && value == min))
                {
                    return value;
                }

                string range = (min, max) switch
                {
                    (float.MinValue, float.MaxValue) => "a finite number",
                    (_, float.MaxValue) => string.Create(CultureInfo.InvariantCulture, $"a number {(minExclusive ? ">" : ">=")} {min}"),
                    _ => string.Create(CultureInfo.InvariantCulture, $"a number in {(minExclusive ? "(" : "[")}{min}, {max}]"),
                };
                r.AddError($"{name} must be {range}, not '{text}'");
                return defaultValue;
            },
        };

    /// <summary>Comma-separated non-negative integers, from every time the option is given (empty when absent).</summary>
    public static Option<int[]> IntList(string name, string placeholder, string description) =>
        new(name)
        {
            Description = description,
            HelpName = placeholder,
            Arity = ArgumentArity.OneOrMore,
            DefaultValueFactory = _ => [],
            CustomParser = r =>
            {
                var values = new List<int>();
                foreach (Token token in r.Tokens)
                {
                    foreach (string part in token.Value.Split(',', StringSplitOptions.TrimEntries))
                    {
                        if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int value))
                        {
                            r.AddError($"{name} must be comma-separated non-negative integers; '{part}' is not");
                            return [];
                        }

                        values.Add(value);
                    }
                }

                return [.. values];
            },
        };

    /// <summary>
    /// One of a fixed set of words, each standing for a value; <c>default</c> when absent (make <typeparamref name="T"/>
    /// nullable to tell absence apart, and name the default in <paramref name="description"/>). The help shows the words
    /// as the placeholder (<c>&lt;on|off&gt;</c>); anything else is refused with the list, or with
    /// <paramref name="expected"/> when given.
    /// </summary>
    /// <exception cref="ArgumentException"><typeparamref name="T"/> is <see cref="bool"/>: use <see cref="OnOff"/>.</exception>
    public static Option<T> Choice<T>(string name, string description, (string Word, T Value)[] choices, string? expected = null)
    {
        // The parser gives a bool option only "true" or "false" as its value and leaves any other word for the next
        // argument, so a choice cannot be a bool.
        if (typeof(T) == typeof(bool) || typeof(T) == typeof(bool?))
        {
            throw new ArgumentException($"{name}: a choice of bool values cannot be parsed; use OnOff", nameof(T));
        }

        string[] words = [.. choices.Select(c => c.Word)];
        var option = new Option<T>(name)
        {
            Description = description,
            HelpName = string.Join('|', words),
            Arity = ArgumentArity.ExactlyOne,
            CustomParser = r =>
            {
                string text = Single(r);
                foreach ((string word, T value) in choices)
                {
                    if (text == word)
                    {
                        return value;
                    }
                }

                r.AddError($"{name} must be {expected ?? List(words)}, not '{text}'");
                return default;
            },
        };
        option.CompletionSources.Add(words);
        return option;
    }

    /// <summary>A setting written <c>on</c> or <c>off</c>, or null when absent (<paramref name="description"/> names the default).</summary>
    public static Option<OnOff?> OnOff(string name, string description) =>
        Choice<OnOff?>(name, description, [("on", CommandLine.OnOff.On), ("off", CommandLine.OnOff.Off)]);

    /// <summary>The option's value, else the environment variable's (an empty one counts as unset), else null.</summary>
    public static string? ValueOrEnvironment(this ParseResult parse, Option<string?> option, CliConsole console, string variable) =>
        parse.GetValue(option) ?? (console.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : null);

    /// <summary>Words as a sentence lists them: <c>a, b or c</c>.</summary>
    public static string List(IReadOnlyList<string> words) =>
        words.Count == 1 ? words[0] : $"{string.Join(", ", words.Take(words.Count - 1))} or {words[^1]}";

    private static int ParseInt(ArgumentResult r, string name, int min, int max)
    {
        string text = Single(r);
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max)
        {
            return value;
        }

        r.AddError($"{name} must be an integer in [{min}, {max}], not '{text}'");
        return 0;
    }

    /// <summary>The one value of an option that takes one (arity has been checked before a parser runs).</summary>
    private static string Single(ArgumentResult r) => r.Tokens[0].Value;
}

/// <summary>The value of an <see cref="CliOptions.OnOff"/> option.</summary>
internal enum OnOff
{
    Off,
    On,
}
