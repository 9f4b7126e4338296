using System.Globalization;

namespace Rwkv7.Cli.CommandLine;

/// <summary>A mistake in how the program was called: reported with a usage hint and exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The arguments after the command name: <c>--name value</c> options, <c>--flag</c> switches and positional
/// values. Each command declares which names it accepts; anything else is a usage error.
/// </summary>
internal sealed class CommandArguments
{
    private readonly Dictionary<string, string> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    private CommandArguments(string command) => Command = command;

    public string Command { get; }

    public List<string> Positional { get; } = [];

    /// <summary>Parses <paramref name="args"/>; <paramref name="flagNames"/> are the switches that take no value.</summary>
    public static CommandArguments Parse(string command, IReadOnlyList<string> args, IReadOnlySet<string> flagNames)
    {
        var parsed = new CommandArguments(command);
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a == "--")
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
            if (!parsed._options.TryAdd(name, value))
            {
                throw new UsageException($"--{name} is given twice");
            }
        }

        return parsed;
    }

    public bool Flag(string name)
    {
        _read.Add(name);
        return _flags.Contains(name);
    }

    public string? Option(string name)
    {
        _read.Add(name);
        return _options.GetValueOrDefault(name);
    }

    public string Required(string name, string? environmentFallback = null)
    {
        string? value = Option(name) ?? (environmentFallback is null ? null : Environment.GetEnvironmentVariable(environmentFallback));
        return value ?? throw new UsageException(
            environmentFallback is null ? $"{Command} needs --{name}" : $"{Command} needs --{name} (or the {environmentFallback} environment variable)");
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

    /// <summary>Fails on any option or flag the command did not read, so typos are not silently ignored.</summary>
    public void EnsureAllUsed()
    {
        foreach (string name in _options.Keys.Concat(_flags))
        {
            if (!_read.Contains(name))
            {
                throw new UsageException($"{Command} does not take --{name}");
            }
        }

        if (Positional.Count > 0)
        {
            throw new UsageException($"{Command} does not take '{Positional[0]}'");
        }
    }
}
