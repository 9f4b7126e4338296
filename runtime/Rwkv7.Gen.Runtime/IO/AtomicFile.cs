using Rwkv7.Gen.Platform;

namespace Rwkv7.Gen.IO;

/// <summary>
/// The last steps of an atomic save, shared by state files and <c>rwkv7 convert</c>: the complete file was written
/// and flushed under a temporary name beside the target; it now replaces the target in one rename, and the directory
/// is synced so that the rename itself survives a crash (on POSIX systems a rename lives in the directory, which
/// the file's own flush does not write). On failure the temporary file is removed and the target is untouched.
/// </summary>
internal static class AtomicFile
{
    /// <summary>
    /// A temporary name beside <paramref name="fullPath"/>: hidden, unique, and clearly not the target. A missing
    /// directory is reported against the target, not against a temporary name the user never chose.
    /// </summary>
    public static string TemporaryPathFor(string fullPath)
    {
        string directory = Path.GetDirectoryName(fullPath) ?? ".";
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"Cannot write {fullPath}: the directory {directory} does not exist.");
        }

        return Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
    }

    /// <summary>
    /// Moves <paramref name="temporary"/> over <paramref name="fullPath"/> and syncs the directory. The sync is best
    /// effort: the data is already durable, only the new name may not be. Windows records renames in the file system's
    /// journal and has no directory handle to flush.
    /// </summary>
    public static void Replace(string temporary, string fullPath)
    {
        File.Move(temporary, fullPath, overwrite: true);
        if (Path.GetDirectoryName(fullPath) is { } directory)
        {
            LibC.TrySyncDirectory(directory);
        }
    }

    /// <summary>Deletes a temporary file after a failure, keeping the original error: a stray, clearly named file is harmless.</summary>
    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
