namespace Rwkv7.Gen.Tests.Infrastructure;

/// <summary>
/// Tests that measure the whole process (every byte allocated, on every thread): xunit runs this collection on its own,
/// after the parallel ones, so no other test's work falls into their measurements.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideMeasurements
{
    public const string Name = "Process-wide measurements (run alone)";
}
