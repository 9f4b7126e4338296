using System.Runtime.InteropServices;

namespace Rwkv7.Gen.Platform;

/// <summary>
/// The few POSIX calls the runtime makes, all of them advice or best effort: huge pages for weight buffers, the
/// sync of a directory after an atomic rename, and a thread's CPU time for benchmarks. Where the C library or an entry point is missing (Windows, an unusual
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

    /// <summary>
    /// CPU time the calling thread has used, in seconds (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>), or null where it cannot be
    /// read. On a machine shared with other work, a thread's CPU time leaves out the time it waited for a core.
    /// </summary>
    public static double? ThreadCpuSeconds()
    {
        if (s_missing || !OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            return ClockGetTime(ThreadCpuClock, out TimeSpec t) == 0 ? t.Seconds + (t.Nanoseconds * 1e-9) : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            s_missing = true;
            return null;
        }
    }

    private const int ThreadCpuClock = 3; // CLOCK_THREAD_CPUTIME_ID (Linux)

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
