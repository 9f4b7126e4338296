using System.Runtime.InteropServices;
using Rwkv7.Gen.StateFiles;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Sessions;

namespace Rwkv7.Gen.Tests.StateFiles;

/// <summary>State files: bit-exact continuation, canonical layout, and refusal of every kind of bad file.</summary>
public sealed class RwkvStateFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkv-state-tests-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Crc32c_matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        Assert.Equal(0u, Crc32C.Compute([]));
    }

    [Theory]
    [InlineData(Models.TinyF32Safetensors)]
    [InlineData(Models.Mh4Safetensors)]
    public void Save_load_continue_is_bit_identical_to_never_stopping(string modelFile)
    {
        RwkvModel model = modelFile == Models.Mh4Safetensors ? SharedModels.Mh4 : SharedModels.Tiny;
        int[] tokens = Goldens.For(modelFile).Tokens;
        int v = model.Shape.Vocab, half = tokens.Length / 2;

        // One run straight through, token by token.
        RwkvState straight = model.CreateState();
        float[] straightLogits = new float[v];
        foreach (int t in tokens)
        {
            model.Forward(t, straight, straightLogits);
        }

        // The same run, saved halfway and resumed from the file in a new state.
        RwkvState first = model.CreateState();
        float[] halfwayLogits = new float[v];
        foreach (int t in tokens[..half])
        {
            model.Forward(t, first, halfwayLogits);
        }

        string path = Path.Combine(_directory, "halfway.rwkvstate");
        RwkvStateFile.Save(path, first, halfwayLogits);

        RwkvState resumed = model.CreateState();
        float[] loadedLogits = new float[v];
        StateFileInfo info = RwkvStateFile.Load(path, resumed, loadedLogits);
        Assert.Equal(v, info.LogitCount);
        Assert.Equal(model.Shape.Heads, info.Heads);
        AssertBits(halfwayLogits, loadedLogits, "saved logits");
        AssertBits(first.Data, resumed.Data, "loaded state");

        float[] resumedLogits = new float[v];
        foreach (int t in tokens[half..])
        {
            model.Forward(t, resumed, resumedLogits);
        }

        AssertBits(straightLogits, resumedLogits, "logits after resuming");
        AssertBits(straight.Data, resumed.Data, "state after resuming");
    }

    [Fact]
    public void The_payload_is_in_the_canonical_layout_of_the_goldens()
    {
        RwkvModel model = SharedModels.Mh4;
        Goldens goldens = Goldens.Mh4;
        RwkvState state = model.CreateState();
        model.Forward(goldens.Tokens, state, []);

        var stream = new MemoryStream();
        RwkvStateFile.Write(stream, state);
        float[] payload = MemoryMarshal.Cast<byte, float>(stream.ToArray().AsSpan(64)).ToArray();

        int l = model.Shape.Layers, d = model.Shape.Embedding;
        Assert.Equal(goldens.AttX.Length + goldens.FfnX.Length + goldens.Wkv.Length, payload.Length);
        Tolerance.AssertState(goldens.AttX, payload.AsSpan(0, l * d), "att_x section");
        Tolerance.AssertState(goldens.FfnX, payload.AsSpan(l * d, l * d), "ffn_x section");
        Tolerance.AssertState(goldens.Wkv, payload.AsSpan(2 * l * d), "wkv section [L][H][i][j]");
    }

    [Fact]
    public void A_file_without_logits_loads_and_says_so()
    {
        RwkvState state = StateAfter(SharedModels.Tiny, 5);
        string path = Path.Combine(_directory, "no-logits.rwkvstate");
        RwkvStateFile.Save(path, state);

        RwkvState loaded = SharedModels.Tiny.CreateState();
        float[] logits = Enumerable.Repeat(7f, 256).ToArray();
        StateFileInfo info = RwkvStateFile.Load(path, loaded, logits);
        Assert.False(info.HasLogits);
        Assert.All(logits, x => Assert.Equal(7f, x));
        AssertBits(state.Data, loaded.Data, "state");
        Assert.Equal(info, RwkvStateFile.ReadInfo(path));
    }

    [Fact]
    public void A_state_of_another_shape_is_refused()
    {
        string path = Path.Combine(_directory, "mh4.rwkvstate");
        RwkvStateFile.Save(path, StateAfter(SharedModels.Mh4, 3));

        AssertRefused(path, SharedModels.Tiny, "holds a state for L3 D256 H4x64, but the target state is for L12 D64 H1x64");
    }

    [Fact]
    public void A_flipped_data_byte_fails_the_checksum()
    {
        string path = SaveTiny("corrupt-data.rwkvstate");
        byte[] bytes = File.ReadAllBytes(path);
        bytes[1000] ^= 0x10;
        File.WriteAllBytes(path, bytes);

        AssertRefused(path, SharedModels.Tiny, "data checksum does not match");
    }

    [Fact]
    public void A_flipped_header_byte_fails_the_header_checksum()
    {
        string path = SaveTiny("corrupt-header.rwkvstate");
        byte[] bytes = File.ReadAllBytes(path);
        bytes[17] ^= 0x01; // the layer count
        File.WriteAllBytes(path, bytes);

        AssertRefused(path, SharedModels.Tiny, "header checksum does not match");
    }

    [Theory]
    [InlineData(-10, "truncated")]
    [InlineData(-100_000, "truncated")]
    [InlineData(3, "longer than its header says")]
    public void A_file_of_the_wrong_length_is_refused(int change, string expected)
    {
        string path = SaveTiny("length.rwkvstate");
        byte[] bytes = File.ReadAllBytes(path);
        byte[] changed = change < 0 ? bytes[..(bytes.Length + change)] : [.. bytes, .. new byte[change]];
        File.WriteAllBytes(path, changed);

        AssertRefused(path, SharedModels.Tiny, expected);

        // The same through a stream that cannot seek (the length is found by reading).
        RwkvState target = StateAfter(SharedModels.Tiny, 2);
        float[] before = target.Data.ToArray();
        RwkvFormatException e = Assert.Throws<RwkvFormatException>(() => RwkvStateFile.Read(new ForwardOnlyStream(changed), target, default, "pipe"));
        Assert.Equal("pipe", e.FilePath);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        AssertBits(before, target.Data, "target after a refused stream");
    }

    [Theory]
    [InlineData(0, "truncated")]
    [InlineData(40, "truncated")]
    [InlineData(200, "bad magic")]
    public void Something_that_is_not_a_state_file_is_refused(int length, string expected)
    {
        string path = Path.Combine(_directory, "junk.bin");
        File.WriteAllBytes(path, Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray());
        AssertRefused(path, SharedModels.Tiny, expected);
    }

    [Fact]
    public void Logits_of_another_length_are_refused()
    {
        string path = SaveTiny("logits.rwkvstate");
        RwkvState target = SharedModels.Tiny.CreateState();
        RwkvFormatException e = Assert.Throws<RwkvFormatException>(() => RwkvStateFile.Load(path, target, new float[512]));
        Assert.Contains("holds 256 logits, but 512 were asked for", e.Message, StringComparison.Ordinal);
        Assert.All(target.Data.ToArray(), x => Assert.Equal(0f, x));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(64)]
    [InlineData(10_000)]
    public void A_save_that_fails_midway_leaves_the_previous_file_untouched(long failAfter)
    {
        string path = SaveTiny("precious.rwkvstate");
        byte[] original = File.ReadAllBytes(path);

        RwkvState other = StateAfter(SharedModels.Tiny, 20);
        IOException e = Assert.Throws<IOException>(() => RwkvStateFile.Save(path, other, new float[256], s => new FailingStream(s, failAfter)));
        Assert.Contains("Simulated failure", e.Message, StringComparison.Ordinal);

        Assert.Equal(original, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_directory)); // the temporary file is gone too
    }

    [Fact]
    public void Saving_into_a_missing_directory_fails_without_creating_anything()
    {
        string path = Path.Combine(_directory, "missing", "state.rwkvstate");
        var e = Assert.Throws<DirectoryNotFoundException>(() => RwkvStateFile.Save(path, SharedModels.Tiny.CreateState()));
        Assert.Equal($"Cannot write {path}: the directory {Path.GetDirectoryName(path)} does not exist.", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_directory));
    }

    [Fact]
    public void Saving_again_replaces_the_file_and_leaves_no_temporary_files()
    {
        string path = SaveTiny("replace.rwkvstate");
        RwkvState later = StateAfter(SharedModels.Tiny, 12);
        RwkvStateFile.Save(path, later);

        RwkvState loaded = SharedModels.Tiny.CreateState();
        RwkvStateFile.Load(path, loaded);
        AssertBits(later.Data, loaded.Data, "replaced state");
        Assert.Equal([path], Directory.GetFiles(_directory));
    }

    private string SaveTiny(string name)
    {
        string path = Path.Combine(_directory, name);
        RwkvState state = StateAfter(SharedModels.Tiny, 8);
        float[] logits = new float[256];
        SharedModels.Tiny.Forward(Goldens.Tiny.Tokens[8], state, logits);
        RwkvStateFile.Save(path, state, logits);
        return path;
    }

    private static RwkvState StateAfter(RwkvModel model, int tokenCount)
    {
        RwkvState state = model.CreateState();
        model.Forward(Goldens.For(model.Shape.Vocab == 512 ? Models.Mh4Safetensors : Models.TinyF32Safetensors).Tokens.AsSpan(0, tokenCount), state, []);
        return state;
    }

    /// <summary>Loading must throw a format error naming the file and leave a non-zero target exactly as it was.</summary>
    private static void AssertRefused(string path, RwkvModel model, string expected)
    {
        RwkvState target = StateAfter(model, 4);
        float[] before = target.Data.ToArray();
        float[] logits = Enumerable.Range(0, model.Shape.Vocab).Select(i => (float)i).ToArray();
        float[] logitsBefore = logits.ToArray();

        RwkvFormatException e = Assert.Throws<RwkvFormatException>(() => RwkvStateFile.Load(path, target, logits));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        AssertBits(before, target.Data, "target state after a refused load");
        AssertBits(logitsBefore, logits, "target logits after a refused load");
    }

    private static void AssertBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        ReadOnlySpan<int> e = MemoryMarshal.Cast<float, int>(expected);
        ReadOnlySpan<int> a = MemoryMarshal.Cast<float, int>(actual);
        int mismatch = e.CommonPrefixLength(a);
        Assert.True(mismatch == e.Length, $"{what}: first difference at {mismatch}");
    }
}
