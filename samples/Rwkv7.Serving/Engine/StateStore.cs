using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Rwkv7.Gen;
using Rwkv7.Gen.StateFiles;

namespace Rwkv7.Serving.Engine;

/// <summary>
/// The state cache's copy on disk (<c>--state-dir</c>): each entry is a state file (<see cref="RwkvStateFile"/>, saved
/// atomically, with its logits) named by a hash of the model and the tokens, beside a key file holding the tokens.
/// Writes and deletes run in order on a background task so the scheduler never waits for the disk.
/// </summary>
/// <remarks>
/// <para>The state is written first and the key last, both atomically, so a crash leaves at worst a state file without a key,
/// which is never read and is removed at the next start. A key is trusted only when its name is the hash of what it holds.</para>
/// <para>The model's fingerprint is part of the hash: states saved for other weights of the same shape are left alone.</para>
/// </remarks>
internal sealed class StateStore : IDisposable
{
    private const string StateExtension = ".state";
    private const string KeyExtension = ".key";
    private static readonly byte[] KeyMagic = "RWKVSKEY"u8.ToArray();

    private readonly string _directory;
    private readonly string _fingerprint;
    private readonly ModelShape _shape;
    private readonly TextWriter _log;
    private readonly Channel<Action> _work = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;

    /// <param name="directory">The folder (created if missing).</param>
    /// <param name="fingerprint">Names the weights: entries of other weights are not read.</param>
    /// <param name="shape">The model's shape.</param>
    /// <param name="log">Where failures to write are reported (they never fail a request).</param>
    public StateStore(string directory, string fingerprint, ModelShape shape, TextWriter log)
    {
        _directory = Path.GetFullPath(directory);
        Directory.CreateDirectory(_directory);
        _fingerprint = fingerprint;
        _shape = shape;
        _log = log;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Reads the entries of this model, newest first, until <paramref name="budgetBytes"/> is reached; removes orphans.</summary>
    public IEnumerable<CachedState> LoadAll(long budgetBytes)
    {
        var entries = new List<CachedState>();
        long bytes = 0;
        foreach (FileInfo key in new DirectoryInfo(_directory).GetFiles("*" + KeyExtension).OrderByDescending(f => f.LastWriteTimeUtc))
        {
            int[]? tokens = ReadKey(key.FullName);
            string statePath = Path.ChangeExtension(key.FullName, StateExtension);
            if (tokens is null || !File.Exists(statePath))
            {
                continue;
            }

            long entryBytes = StateCache.EntryBytes(_shape.StateFloatsPerLayer * _shape.Layers, _shape.Vocab, tokens.Length);
            if (bytes + entryBytes > budgetBytes)
            {
                break;
            }

            try
            {
                var state = new RwkvState(_shape);
                float[] logits = new float[_shape.Vocab];
                StateFileInfo info = RwkvStateFile.Load(statePath, state, logits);
                if (!info.HasLogits)
                {
                    continue;
                }

                entries.Add(new CachedState(tokens, state, logits));
                bytes += entryBytes;
            }
            catch (Exception e) when (e is RwkvException or IOException or UnauthorizedAccessException)
            {
                _log.WriteLine($"rwkv7 serve: skipping cached state {statePath}: {e.Message}");
            }
        }

        foreach (FileInfo state in new DirectoryInfo(_directory).GetFiles("*" + StateExtension))
        {
            if (!File.Exists(Path.ChangeExtension(state.FullName, KeyExtension)))
            {
                TryDelete(state.FullName); // a save that stopped between the state and its key
            }
        }

        return entries;
    }

    /// <summary>Writes <paramref name="entry"/> in the background (entries are never changed once cached).</summary>
    public void Save(CachedState entry) => _work.Writer.TryWrite(() =>
    {
        string name = Path.Combine(_directory, NameOf(entry.Tokens));
        RwkvStateFile.Save(name + StateExtension, entry.State, entry.Logits);
        WriteKey(name + KeyExtension, entry.Tokens);
    });

    /// <summary>Removes <paramref name="entry"/>'s files in the background.</summary>
    public void Delete(CachedState entry) => _work.Writer.TryWrite(() =>
    {
        string name = Path.Combine(_directory, NameOf(entry.Tokens));
        TryDelete(name + KeyExtension);
        TryDelete(name + StateExtension);
    });

    /// <summary>Finishes every queued write, then stops.</summary>
    public void Dispose()
    {
        _work.Writer.TryComplete();
        _writer.GetAwaiter().GetResult();
    }

    private async Task WriteLoopAsync()
    {
        await foreach (Action action in _work.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                action();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.WriteLine($"rwkv7 serve: could not write the state cache to {_directory}: {e.Message}");
            }
        }
    }

    /// <summary>The file name (without extension) of an entry: SHA-256 of the fingerprint and the tokens, in hex.</summary>
    private string NameOf(int[] tokens) => Convert.ToHexStringLower(SHA256.HashData(KeyContent(tokens)));

    /// <summary>What a key file holds: magic, the fingerprint (length-prefixed UTF-8), the token count and the tokens.</summary>
    private byte[] KeyContent(int[] tokens)
    {
        byte[] fingerprint = Encoding.UTF8.GetBytes(_fingerprint);
        byte[] content = new byte[KeyMagic.Length + 4 + fingerprint.Length + 4 + (4 * tokens.Length)];
        Span<byte> s = content;
        KeyMagic.CopyTo(s);
        s = s[KeyMagic.Length..];
        BinaryPrimitives.WriteInt32LittleEndian(s, fingerprint.Length);
        fingerprint.CopyTo(s[4..]);
        s = s[(4 + fingerprint.Length)..];
        BinaryPrimitives.WriteInt32LittleEndian(s, tokens.Length);
        for (int i = 0; i < tokens.Length; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(s[(4 + (4 * i))..], tokens[i]);
        }

        return content;
    }

    private void WriteKey(string path, int[] tokens)
    {
        string temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(KeyContent(tokens));
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The tokens of a key file of this model, or null when it is another model's, damaged, or misnamed.</summary>
    private int[]? ReadKey(string path)
    {
        byte[] content;
        try
        {
            content = File.ReadAllBytes(path);
        }
        catch (IOException)
        {
            return null;
        }

        int fixedBytes = KeyMagic.Length + 8;
        if (content.Length < fixedBytes || !content.AsSpan(0, KeyMagic.Length).SequenceEqual(KeyMagic))
        {
            return null;
        }

        int fingerprintLength = BinaryPrimitives.ReadInt32LittleEndian(content.AsSpan(KeyMagic.Length));
        if (fingerprintLength < 0 || fingerprintLength > content.Length - fixedBytes)
        {
            return null;
        }

        int at = KeyMagic.Length + 4 + fingerprintLength;
        int count = BinaryPrimitives.ReadInt32LittleEndian(content.AsSpan(at));
        if (count <= 0 || (long)count * 4 != content.Length - at - 4)
        {
            return null;
        }

        int[] tokens = new int[count];
        for (int i = 0; i < count; i++)
        {
            tokens[i] = BinaryPrimitives.ReadInt32LittleEndian(content.AsSpan(at + 4 + (4 * i)));
        }

        // Another model's key, or a damaged one, hashes to another name.
        return Path.GetFileNameWithoutExtension(path) == NameOf(tokens) && tokens.All(t => (uint)t < (uint)_shape.Vocab) ? tokens : null;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
