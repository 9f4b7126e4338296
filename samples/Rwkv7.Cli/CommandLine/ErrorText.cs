namespace Rwkv7.Cli.CommandLine;

/// <summary>Turns an exception into the one line the program prints for it.</summary>
internal static class ErrorText
{
    /// <summary>
    /// The message on one line: without the <c>(Parameter 'x')</c> that argument exceptions append, line breaks
    /// (such as the "Actual value was" line of range errors) joined with spaces.
    /// </summary>
    public static string OneLine(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentException { ParamName: { } name })
        {
            message = message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal);
        }

        string[] lines = message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? e.GetType().Name : string.Join(' ', lines);
    }

    /// <summary>Whether the exception is a failure the user can act on, as opposed to a bug in the program.</summary>
    public static bool IsExpected(Exception e) => e is Gen.RwkvException or IOException or UnauthorizedAccessException
        or ArgumentException or FormatException or NotSupportedException or System.Text.Json.JsonException or InvalidDataException;
}
