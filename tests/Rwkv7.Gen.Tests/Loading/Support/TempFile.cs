namespace Rwkv7.Gen.Tests.Loading.Support;

/// <summary>
/// A file under <see cref="Path.GetTempPath"/> holding test bytes (modified copies of fixtures, crafted
/// archives); deleted on dispose. Fixtures themselves are never copied into the repository.
/// </summary>
public sealed class TempFile : IDisposable
{
    public TempFile(ReadOnlySpan<byte> contents, string extension)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"rwkv7gen-test-{Guid.NewGuid():N}{extension}");
        File.WriteAllBytes(Path, contents);
    }

    public string Path { get; }

    public long Length => new FileInfo(Path).Length;

    /// <summary>A copy of a fixture file, optionally patched in memory first.</summary>
    public static TempFile CopyOf(string fixture, Action<byte[]>? patch = null)
    {
        byte[] bytes = FixtureBytes.Get(fixture);
        byte[] copy = (byte[])bytes.Clone();
        patch?.Invoke(copy);
        return new TempFile(copy, System.IO.Path.GetExtension(fixture));
    }

    /// <summary>The first <paramref name="length"/> bytes of a fixture file.</summary>
    public static TempFile Truncated(string fixture, long length) =>
        new(FixtureBytes.Get(fixture).AsSpan(0, checked((int)length)), System.IO.Path.GetExtension(fixture));

    public void Dispose()
    {
        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp file must not fail the test that made it.
        }
    }
}

/// <summary>Fixture file contents, read once per test run.</summary>
public static class FixtureBytes
{
    private static readonly Dictionary<string, byte[]> Cache = [];

    public static byte[] Get(string fixture)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(fixture, out byte[]? bytes))
            {
                bytes = File.ReadAllBytes(Infrastructure.Fixtures.Path(fixture));
                Cache.Add(fixture, bytes);
            }

            return bytes;
        }
    }
}
