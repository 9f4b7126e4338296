using Rwkv7.Gen.Specialized;

namespace Rwkv7.Gen.Tests.Model;

/// <summary>
/// The persistent pool behind every parallel step: each part of a step runs exactly once, whoever claims it; each
/// participant claims its own run of adjacent parts first, then takes the last parts left of others' runs.
/// </summary>
public sealed unsafe class WorkerPoolTests
{
    [Theory]
    [InlineData(0, 4, 2, 0)]
    [InlineData(1, 4, 2, 2)]
    [InlineData(0, 8, 4, 0)]
    [InlineData(3, 8, 4, 6)]
    [InlineData(2, 3, 4, 1)]
    [InlineData(31, 32, 32, 31)]
    public void A_participant_starts_with_the_first_part_of_its_own_run(int participant, int parts, int threads, int expected) =>
        Assert.Equal(expected, WorkerPool.NextPart(0, participant, parts, threads));

    [Fact]
    public void A_participant_takes_its_own_parts_in_order_then_the_last_part_left_of_another_run()
    {
        // 8 parts on 2 threads: participant 0 owns 0-3, participant 1 owns 4-7.
        uint claimed = 0;
        var order = new List<int>();
        int part;
        while ((part = WorkerPool.NextPart(claimed, 0, 8, 2)) >= 0)
        {
            order.Add(part);
            claimed |= 1u << part;
            if (part == 1)
            {
                claimed |= 1u << 4; // meanwhile participant 1 started its own run
            }
        }

        Assert.Equal([0, 1, 2, 3, 7, 6, 5], order);
    }

    [Fact]
    public void No_part_is_left_when_all_are_claimed()
    {
        Assert.Equal(-1, WorkerPool.NextPart(0b1111, 1, 4, 2));
        Assert.Equal(-1, WorkerPool.NextPart(uint.MaxValue, 0, 32, 2));
    }

    [Fact]
    public void A_participant_without_a_run_of_its_own_takes_the_last_free_part()
    {
        // 3 parts on 4 threads: participant 0's run is empty.
        Assert.Equal(2, WorkerPool.NextPart(0, 0, 3, 4));
        Assert.Equal(1, WorkerPool.NextPart(0b100, 0, 3, 4));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Every_part_of_every_step_runs_exactly_once(int threads)
    {
        using var pool = new WorkerPool(threads);
        foreach (int parts in new[] { 1, 2, 3, 4, 7, 16, 31, WorkerPool.MaxParts })
        {
            var counts = new Counts(parts);
            for (int step = 0; step < 300; step++)
            {
                pool.Run(&Count, counts, parts);
            }

            Assert.All(counts.Runs, n => Assert.Equal(300, n));
            Assert.Equal(0, counts.WrongParts);
        }
    }

    [Fact]
    public void More_parts_than_the_claim_word_holds_are_refused()
    {
        using var pool = new WorkerPool(2);
        var counts = new Counts(WorkerPool.MaxParts + 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Run(&Count, counts, WorkerPool.MaxParts + 1));
    }

    [Fact]
    public void A_failing_part_fails_the_step_and_the_pool_runs_the_next_one()
    {
        using var pool = new WorkerPool(2);
        AggregateException e = Assert.Throws<AggregateException>(() => pool.Run(&Fail, new object(), 4));
        Assert.IsType<InvalidOperationException>(e.InnerException);

        var counts = new Counts(4);
        pool.Run(&Count, counts, 4);
        Assert.All(counts.Runs, n => Assert.Equal(1, n));
    }

    private static void Count(object context, int part, int parts)
    {
        var counts = (Counts)context;
        if (parts != counts.Runs.Length)
        {
            Interlocked.Increment(ref counts.WrongParts);
        }

        Interlocked.Increment(ref counts.Runs[part]);
    }

    private static void Fail(object context, int part, int parts)
    {
        if (part == 2)
        {
            throw new InvalidOperationException("part 2 failed");
        }
    }

    private sealed class Counts(int parts)
    {
        public readonly int[] Runs = new int[parts];
        public int WrongParts;
    }
}
