using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Benchmarks;

/// <summary>
/// World tokenizer throughput on about 4 MB of mixed text (see <see cref="BenchmarkFixtures.MixedText"/>).
/// The MB/s column counts UTF-8 input bytes (for decode: output bytes).
/// </summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private static readonly int MixedBytes = Encoding.UTF8.GetByteCount(BenchmarkFixtures.MixedText());

    private WorldTokenizer _tokenizer = null!;
    private string _text = null!;
    private byte[] _utf8 = null!;
    private int[] _ids = null!;
    private int[] _encoded = null!;

    [GlobalSetup]
    public void Setup()
    {
        _tokenizer = WorldTokenizer.Load(BenchmarkFixtures.VocabularyPath);
        _text = BenchmarkFixtures.MixedText();
        _utf8 = Encoding.UTF8.GetBytes(_text);
        _ids = new int[_utf8.Length];
        _encoded = _tokenizer.EncodeToIdArray(_text);
    }

    /// <summary>Bytes to tokens, into a reused buffer: the trie walk alone.</summary>
    [Benchmark]
    public int EncodeUtf8() => _tokenizer.EncodeUtf8(_utf8, _ids);

    /// <summary>The Microsoft.ML.Tokenizers entry point: UTF-16 to UTF-8, encode, copy out the ids.</summary>
    [Benchmark]
    public int EncodeToIds() => _tokenizer.EncodeToIds(_text).Count;

    [Benchmark]
    public int CountTokens() => _tokenizer.CountTokens(_text);

    [Benchmark]
    public int DecodeToUtf8() => _tokenizer.DecodeToUtf8(_encoded, _utf8);

    /// <summary>Reading and indexing the 1 MB vocabulary file.</summary>
    [Benchmark]
    public int LoadVocabulary() => WorldTokenizer.Load(BenchmarkFixtures.VocabularyPath).EntryCount;

    private sealed class Config : BenchmarkConfig
    {
        public Config()
        {
            AddColumn(ThroughputColumn.MegabytesPerSecond(c => c.Descriptor.WorkloadMethod.Name == nameof(LoadVocabulary) ? 0 : MixedBytes));
        }
    }
}
