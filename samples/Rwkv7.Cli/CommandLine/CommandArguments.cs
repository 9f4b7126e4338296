using System.Globalization;

namespace Rwkv7.Cli.CommandLine;

/// <summary>A mistake in how the program was called: reported with a usage hint and exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The arguments after the command name: <c>--name value</c> (or <c>--name=value</c>) options, <c>--flag</c>
/// switches and positional values; everything after a lone <c>--</c> is positional. Each command declares which
/// names it accepts by reading them; anything else is a usage error (<see cref="EnsureAllUsed"/>).
/// </summary>
internal sealed class CommandArguments
{
    private readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);
    private readonly Func<string, string?> _environment;
    private bool _positionalRead;

    private CommandArguments(string command, Func<string, string?> environment)
    {
        Command = command;
        _environment = environment;
    }

    public string Command { get; }

    public List<string> Positional { get; } = [];

    /// <summary>
    /// Parses <paramref name="args"/>; <paramref name="flagNames"/> are the switches that take no value, and
    /// <paramref name="environment"/> looks up the environment variables some options fall back to (none when null).
    /// </summary>
    public static CommandArguments Parse(
        string command, IReadOnlyList<string> args, IReadOnlySet<string> flagNames, Func<string, string?>? environment = null)
    {
        var parsed = new CommandArguments(command, environment ?? (_ => null));
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a == "--")
            {
                parsed.Positional.AddRange(args.Skip(i + 1));
                break;
            }

            if (!a.StartsWith("--", StringComparison.Ordinal))
            {
                parsed.Positional.Add(a);
                continue;
            }

            string name = a[2..];
            string? inline = null;
            int eq = name.IndexOf('=');
            if (eq >= 0)
            {
                inline = name[(eq + 1)..];
                name = name[..eq];
            }

            if (flagNames.Contains(name))
            {
                if (inline is not null)
                {
                    throw new UsageException($"--{name} takes no value");
                }

                parsed._flags.Add(name);
                continue;
            }

            string value = inline ?? (i + 1 < args.Count ? args[++i] : throw new UsageException($"--{name} needs a value"));
            if (!parsed._options.TryGetValue(name, out List<string>? values))
            {
                parsed._options.Add(name, values = []);
            }

            values.Add(value);
        }

        return parsed;
    }

    public bool Flag(string name)
    {
        _read.Add(name);
        return _flags.Contains(name);
    }

    /// <summary>The value of an option given at most once, or null.</summary>
    public string? Option(string name)
    {
        IReadOnlyList<string> values = All(name);
        return values.Count switch
        {
            0 => null,
            1 => values[0],
            _ => throw new UsageException($"--{name} is given twice"),
        };
    }

    /// <summary>Every value of a repeatable option, in order.</summary>
    public IReadOnlyList<string> All(string name)
    {
        _read.Add(name);
        return _options.TryGetValue(name, out List<string>? values) ? values : [];
    }

    /// <summary>The option, or else the environment variable <paramref name="environmentFallback"/>, or null.</summary>
    public string? OptionOrEnvironment(string name, string environmentFallback) =>
        Option(name) ?? NonEmpty(_environment(environmentFallback));

    public string Required(string name, string? environmentFallback = null)
    {
        string? value = environmentFallback is null ? Option(name) : OptionOrEnvironment(name, environmentFallback);
        return value ?? throw new UsageException(
            environmentFallback is null ? $"{Command} needs --{name}" : $"{Command} needs --{name} (or the {environmentFallback} environment variable)");
    }

    /// <summary>The one positional argument (<paramref name="what"/> names it in errors), or null when there is none.</summary>
    public string? SinglePositional(string what)
    {
        _positionalRead = true;
        return Positional.Count switch
        {
            0 => null,
            1 => Positional[0],
            _ => throw new UsageException($"{Command} takes one {what}, not {Positional.Count} (quote it if it has spaces): '{Positional[1]}' is extra"),
        };
    }

    public int Int(string name, int defaultValue, int min = int.MinValue, int max = int.MaxValue)
    {
        string? text = Option(name);
        if (text is null)
        {
            return defaultValue;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
        {
            throw new UsageException($"--{name} must be an integer in [{min}, {max}], not '{text}'");
        }

        return value;
    }

    public long? Long(string name)
    {
        string? text = Option(name);
        if (text is null)
        {
            return null;
        }

        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value)
            ? value
            : throw new UsageException($"--{name} must be a 64-bit integer, not '{text}'");
    }

    /// <summary>A number in [<paramref name="min"/>, <paramref name="max"/>] (the lower end open when <paramref name="minExclusive"/>).</summary>
    public float Float(string name, float defaultValue, float min = float.MinValue, float max = float.MaxValue, bool minExclusive = false)
    {
        string? text = Option(name);
        if (text is null)
        {
            return defaultValue;
        }

        if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) || !float.IsFinite(value)
            || value < min || value > max || (minExclusive && value == min))
        {
            string range = (min, max) switch
            {
                (float.MinValue, float.MaxValue) => "a finite number",
                (_, float.MaxValue) => string.Create(CultureInfo.InvariantCulture, $"a number {(minExclusive ? ">" : ">=")} {min}"),
                _ => string.Create(CultureInfo.InvariantCulture, $"a number in {(minExclusive ? "(" : "[")}{min}, {max}]"),
            };
            throw new UsageException($"--{name} must be {range}, not '{text}'");
        }

        return value;
    }

    /// <summary>Comma-separated non-negative integers from every occurrence of the option (empty when absent).</summary>
    public int[] IntList(string name)
    {
        var values = new List<int>();
        foreach (string text in All(name))
        {
            foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int value))
                {
                    throw new UsageException($"--{name} must be comma-separated non-negative integers; '{part}' is not");
                }

                values.Add(value);
            }
        }

        return [.. values];
    }

    /// <summary>Fails on any option, flag or positional value the command did not read, so typos are not silently ignored.</summary>
    public void EnsureAllUsed()
    {
        foreach (string name in _options.Keys.Concat(_flags))
        {
            if (!_read.Contains(name))
            {
                throw new UsageException($"{Command} does not take --{name}");
            }
        }

        if (!_positionalRead && Positional.Count > 0)
        {
            throw new UsageException($"{Command} does not take '{Positional[0]}'");
        }
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
