using BenchmarkDotNet.Attributes;
using Rwkv7.Gen.Sampling;

namespace Rwkv7.Gen.Benchmarks;

/// <summary>
/// One draw from 65,536 logits (the World vocabulary) shaped like a language model's output: normal noise and a
/// few tokens far ahead. Each draw is followed by <see cref="Sampler.Accept"/>, as in generation, and penalties
/// restart every <see cref="ReplyTokens"/> draws, as they do per reply (the penalty loops cost O(distinct tokens)).
/// </summary>
[Config(typeof(BenchmarkConfig))]
[MemoryDiagnoser]
public class SamplerBenchmarks
{
    private const int Vocab = 65_536;
    private const int ReplyTokens = 512;

    private float[] _logits = null!;
    private Sampler _sampler = null!;
    private int _drawn;

    [Params("pip-default", "greedy", "top-k-40", "min-p-0.05", "full-softmax")]
    public string Options { get; set; } = "pip-default";

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _logits = new float[Vocab];
        for (int i = 0; i < Vocab; i++)
        {
            double gaussian = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            _logits[i] = (float)(2 * gaussian);
        }

        for (int k = 0; k < 20; k++)
        {
            _logits[random.Next(Vocab)] += 10 + (float)(random.NextDouble() * 6);
        }

        SamplingOptions options = Options switch
        {
            "greedy" => SamplingOptions.Greedy,
            "top-k-40" => SamplingOptions.Default with { TopP = 1, TopK = 40 },
            "min-p-0.05" => SamplingOptions.Default with { TopP = 1, MinP = 0.05f, Temperature = 0.7f },
            "full-softmax" => SamplingOptions.Default with { TopP = 1 },
            _ => SamplingOptions.Default,
        };
        _sampler = new Sampler(Vocab, options with { Seed = 1 });
    }

    [Benchmark]
    public int SampleAndAccept()
    {
        if (++_drawn == ReplyTokens)
        {
            _drawn = 0;
            _sampler.ResetPenalties();
        }

        int token = _sampler.Sample(_logits);
        _sampler.Accept(token);
        return token;
    }
}
