using System.Diagnostics;

namespace Rwkv7.Gen.Benchmarking;

/// <summary>
/// Where a model's time goes, step by step: set <see cref="RwkvModel.StepTimings"/> to an instance and every step of
/// the generated engine adds its wall time, its count and the weight bytes it read (steps run one at a time, so the
/// times add up to the forward passes' time less the embedding lookup and the final LayerNorm). The reference engine
/// has no steps and records nothing. Recording costs two timestamps per step (about 100 ns per decoded token of
/// the 0.1B shape) and allocates nothing.
/// </summary>
public sealed class StepTimings
{
    private const int StepCount = (int)ModelStep.InputRounding + 1;

    private readonly long[] _ticks = new long[StepCount];
    private readonly long[] _calls = new long[StepCount];
    private readonly long[] _bytes = new long[StepCount];

    /// <summary>Every step's totals so far, in <see cref="ModelStep"/> order (steps that never ran included).</summary>
    public IReadOnlyList<StepTiming> Steps
    {
        get
        {
            var steps = new StepTiming[StepCount];
            for (int i = 0; i < steps.Length; i++)
            {
                steps[i] = new StepTiming(
                    (ModelStep)i,
                    Interlocked.Read(ref _calls[i]),
                    Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _ticks[i])),
                    Interlocked.Read(ref _bytes[i]));
            }

            return steps;
        }
    }

    /// <summary>The sum of every step's time.</summary>
    public TimeSpan Total => Stopwatch.GetElapsedTime(0, _ticks.Sum());

    /// <summary>Forgets everything recorded.</summary>
    public void Reset()
    {
        Array.Clear(_ticks);
        Array.Clear(_calls);
        Array.Clear(_bytes);
    }

    /// <summary>Adds one run of <paramref name="step"/> that took <paramref name="ticks"/> (<see cref="Stopwatch"/> ticks).</summary>
    internal void Add(ModelStep step, long ticks, long weightBytes)
    {
        int i = (int)step;
        Interlocked.Add(ref _ticks[i], ticks);
        Interlocked.Increment(ref _calls[i]);
        Interlocked.Add(ref _bytes[i], weightBytes);
    }
}

/// <summary>One step's totals in a <see cref="StepTimings"/>.</summary>
/// <param name="Step">The step.</param>
/// <param name="Calls">How many times it ran (per layer and forward pass; the head once per pass).</param>
/// <param name="Elapsed">Its wall time, all runs together.</param>
/// <param name="WeightBytes">Bytes of weight matrices it read, all runs together (0 for the steps without weights).</param>
public readonly record struct StepTiming(ModelStep Step, long Calls, TimeSpan Elapsed, long WeightBytes)
{
    /// <summary>Weight bytes read per second of the step's time: against the streaming bandwidth, how close a matrix step came to the memory floor.</summary>
    public double WeightBytesPerSecond => Elapsed > TimeSpan.Zero ? WeightBytes / Elapsed.TotalSeconds : 0;
}
