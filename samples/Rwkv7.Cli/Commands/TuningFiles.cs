using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// Saved processor tunings (<c>rwkv7 tune --save</c>): one file per processor model in the user's cache folder,
/// <c>$XDG_CACHE_HOME/rwkv7/tuning-&lt;vendor&gt;-&lt;family&gt;-&lt;model&gt;.txt</c> (else <c>~/.cache/rwkv7/…</c>), or the
/// file <c>RWKV7_TUNING</c> names. Every command that runs a model uses the file for this processor when there is
/// one, so a calibration is paid once per machine rather than once per run.
/// </summary>
internal static class TuningFiles
{
    public const string FileVariable = "RWKV7_TUNING";

    /// <summary>Where the tuning of <paramref name="cpu"/> is saved, or null when there is no home or cache folder.</summary>
    public static string? DefaultPath(CpuIdentity cpu, Func<string, string?> environment)
    {
        if (environment(FileVariable) is { Length: > 0 } file)
        {
            return file;
        }

        string? cache = environment("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : environment("HOME") is { Length: > 0 } home ? Path.Combine(home, ".cache")
            : null;
        return cache is null ? null : Path.Combine(cache, "rwkv7", $"tuning-{cpu.Key}.txt");
    }

    /// <summary>
    /// Makes the saved tuning of this processor the one engines start with (environment settings on top), when a file
    /// exists; returns its path, or null.
    /// </summary>
    /// <exception cref="Gen.RwkvFormatException">The file is malformed or was made on another processor.</exception>
    public static string? ApplySaved(CliConsole console)
    {
        CpuIdentity cpu = CpuIdentity.Current;
        string? path = DefaultPath(cpu, console.GetEnvironmentVariable);
        if (path is null || !File.Exists(path))
        {
            if (console.GetEnvironmentVariable(FileVariable) is { Length: > 0 } named)
            {
                throw new FileNotFoundException($"{FileVariable} names '{named}', which does not exist");
            }

            return null;
        }

        TuningCalibration.ProcessTuning = CpuTuning.Parse(File.ReadAllText(path), path, cpu).WithEnvironment(console.GetEnvironmentVariable);
        return path;
    }
}
