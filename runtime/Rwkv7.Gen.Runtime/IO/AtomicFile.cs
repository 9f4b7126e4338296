using System.Runtime.InteropServices;

namespace Rwkv7.Gen.IO;

/// <summary>
/// The last steps of an atomic save, shared by state files and <c>rwkv7 convert</c>: the complete file was written
/// and flushed under a temporary name beside the target; it now replaces the target in one rename, and the directory
/// is synced so that the rename itself survives a crash (on POSIX systems a rename lives in the directory, which
/// the file's own flush does not write). On failure the temporary file is removed and the target is untouched.
/// </summary>
internal static partial class AtomicFile
{
    private const int ReadOnly = 0; // O_RDONLY: enough to fsync a directory on Linux and macOS

    private static bool s_libcMissing;

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

    /// <summary>Moves <paramref name="temporary"/> over <paramref name="fullPath"/> and syncs the directory.</summary>
    public static void Replace(string temporary, string fullPath)
    {
        File.Move(temporary, fullPath, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(fullPath));
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

    /// <summary>
    /// Best effort: the data is already durable, only the new name may not be. Windows records renames in the
    /// file system's journal and has no directory handle to flush; elsewhere a failure to open or sync is ignored.
    /// </summary>
    private static void SyncDirectory(string? directory)
    {
        if (directory is null || s_libcMissing || !(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()))
        {
            return;
        }

        try
        {
            int fd = Open(directory, ReadOnly);
            if (fd >= 0)
            {
                _ = Fsync(fd);
                _ = Close(fd);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            s_libcMissing = true;
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
