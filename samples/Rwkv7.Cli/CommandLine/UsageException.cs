namespace Rwkv7.Cli.CommandLine;

/// <summary>A mistake in how the program was called: reported on one line with a pointer to the help, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
