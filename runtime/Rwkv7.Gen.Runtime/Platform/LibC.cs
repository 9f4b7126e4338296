using System.Runtime.InteropServices;

namespace Rwkv7.Gen.Platform;

/// <summary>
/// The few POSIX calls the runtime makes, all of them advice or best effort: huge pages for weight buffers and the
/// sync of a directory after an atomic rename. Where the C library or an entry point is missing (Windows, an unusual
/// libc) the first failure is remembered and later calls do nothing; none of them may fail a load or a save.
/// </summary>
internal static partial class LibC
{
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE (Linux)

    private const int ReadOnly = 0; // O_RDONLY: enough to fsync a directory on Linux and macOS

    private static bool s_missing;

    /// <summary>
    /// Asks Linux to back [<paramref name="pointer"/>, +<paramref name="byteLength"/>) with transparent huge pages.
    /// Where they are disabled the call fails and the memory keeps 4 KiB pages.
    /// </summary>
    public static unsafe void TryAdviseHugePages(void* pointer, long byteLength)
    {
        if (s_missing || !OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            _ = Madvise((nint)pointer, (nuint)byteLength, MadviseHugePage);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            s_missing = true;
        }
    }

    /// <summary>
    /// Flushes <paramref name="directory"/> itself (its entries, so a rename into it survives a crash) on Linux, macOS
    /// and FreeBSD; elsewhere, or when the directory cannot be opened, nothing happens.
    /// </summary>
    public static void TrySyncDirectory(string directory)
    {
        if (s_missing || !(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()))
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
            s_missing = true;
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
