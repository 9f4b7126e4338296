namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// float32 → bf16 rounding against an independent rule: IEEE round-to-nearest, ties to even, decided by comparing the
/// value's distance to its two bf16 neighbours in double precision (not by the library's add-a-bias trick), with
/// overflow to infinity past the midpoint between the largest bf16 and 2^128, and NaN kept a NaN of the same sign.
/// Both the one-value conversion and the run conversion (its vector loop and scalar tail) must agree with it.
/// </summary>
public sealed class BFloat16RoundingTests
{
    /// <summary>Named cases: each pattern with the bf16 pattern the rule gives (NaNs are checked by class, not bits).</summary>
    public static TheoryData<uint, ushort> Cases => new()
    {
        { 0x3F808000, 0x3F80 }, // 1 + 2^-8, halfway between 1 and 1 + 2^-7: ties to the even 0x3F80 (down)
        { 0x3F818000, 0x3F82 }, // halfway between 0x3F81 and 0x3F82: ties to the even 0x3F82 (up)
        { 0xBF808000, 0xBF80 }, // the same ties, negative
        { 0xBF818000, 0xBF82 },
        { 0x3F807FFF, 0x3F80 }, // just below a halfway point
        { 0x3F808001, 0x3F81 }, // just above one
        { 0x00000000, 0x0000 },
        { 0x80000000, 0x8000 }, // -0 keeps its sign
        { 0x7F800000, 0x7F80 }, // +infinity
        { 0xFF800000, 0xFF80 }, // -infinity
        { 0x00000001, 0x0000 }, // the smallest subnormal rounds to zero
        { 0x00008000, 0x0000 }, // a subnormal tie goes to the even zero
        { 0x00018000, 0x0002 }, // a subnormal tie goes up to even
        { 0x00008001, 0x0001 },
        { 0x807FFFFF, 0x8080 }, // the largest subnormal rounds up to the smallest normal
        { 0x007F8000, 0x0080 }, // a tie between the last subnormal and the first normal
        { 0x7F7F0000, 0x7F7F }, // the largest bf16, exact
        { 0x7F7F7FFF, 0x7F7F }, // just below the midpoint to 2^128
        { 0x7F7F8000, 0x7F80 }, // the midpoint (odd below): overflows to infinity
        { 0x7F7FFFFF, 0x7F80 }, // float.MaxValue overflows
        { 0xFF7FFFFF, 0xFF80 },
    };

    /// <summary>NaN patterns, including ones whose payload lies only in the low half (truncation would make them infinite).</summary>
    public static TheoryData<uint> NaNs => new() { 0x7FC00000, 0x7F800001, 0x7F80FFFF, 0x7FFFFFFF, 0xFF800001, 0xFFC00000, 0xFFFFFFFF };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_named_case_rounds_as_the_rule_says(uint bits, ushort expected)
    {
        Assert.Equal(expected, RoundToNearestEven(bits));
        AssertRounds(bits, BFloat16Conversions.FromSingle(BitConverter.UInt32BitsToSingle(bits)), "one value");
        AssertRounds(bits, ConvertRun(bits, position: 0), "vector loop, first lane");
        AssertRounds(bits, ConvertRun(bits, position: 25), "vector loop, middle lane");
        AssertRounds(bits, ConvertRun(bits, position: 35), "scalar tail");
    }

    [Theory]
    [MemberData(nameof(NaNs))]
    public void A_NaN_stays_a_NaN_of_the_same_sign(uint bits)
    {
        AssertRounds(bits, BFloat16Conversions.FromSingle(BitConverter.UInt32BitsToSingle(bits)), "one value");
        AssertRounds(bits, ConvertRun(bits, position: 3), "vector loop");
        AssertRounds(bits, ConvertRun(bits, position: 36), "scalar tail");
    }

    [Fact]
    public void Every_upper_half_with_the_low_halves_around_ties_rounds_as_the_rule_says()
    {
        // 65,536 upper halves (every sign, exponent and bf16 mantissa, NaNs and infinities included) times the low
        // halves that decide rounding: exact, just above exact, just below a tie, the tie, just above it, the top.
        ushort[] lows = [0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF];
        uint[] patterns = new uint[65536 * lows.Length];
        for (int high = 0; high < 65536; high++)
        {
            for (int k = 0; k < lows.Length; k++)
            {
                patterns[(high * lows.Length) + k] = ((uint)high << 16) | lows[k];
            }
        }

        AssertAll(patterns);
    }

    [Fact]
    public void Random_patterns_round_as_the_rule_says()
    {
        var random = new Random(2025);
        uint[] patterns = new uint[1 << 20];
        for (int i = 0; i < patterns.Length; i++)
        {
            patterns[i] = (uint)random.NextInt64(0, 1L << 32);
        }

        AssertAll(patterns);
    }

    /// <summary>Checks every pattern through the one-value conversion and through one run (vector loop, then a tail).</summary>
    private static void AssertAll(uint[] patterns)
    {
        float[] values = patterns.Select(BitConverter.UInt32BitsToSingle).ToArray();
        ushort[] run = new ushort[values.Length + 5];
        BFloat16Conversions.FromSingle(values.AsSpan(0, values.Length - 5), run); // ends in a scalar tail
        BFloat16Conversions.FromSingle(values.AsSpan(values.Length - 5), run.AsSpan(values.Length - 5));
        int wrong = 0;
        string first = "";
        for (int i = 0; i < patterns.Length; i++)
        {
            ushort one = BFloat16Conversions.FromSingle(values[i]);
            if (!Rounds(patterns[i], one) || !Rounds(patterns[i], run[i]))
            {
                if (wrong++ == 0)
                {
                    first = $"0x{patterns[i]:X8}: one value 0x{one:X4}, in a run 0x{run[i]:X4}, the rule 0x{RoundToNearestEven(patterns[i]):X4}";
                }
            }
        }

        Assert.True(wrong == 0, $"{wrong} of {patterns.Length} patterns rounded against the rule; the first: {first}");
    }

    private static void AssertRounds(uint bits, ushort actual, string path) =>
        Assert.True(Rounds(bits, actual), $"{path}: 0x{bits:X8} → 0x{actual:X4}, the rule gives 0x{RoundToNearestEven(bits):X4}{(IsNaN(bits) ? " (any NaN of that sign)" : "")}");

    /// <summary>Whether <paramref name="actual"/> is what the rule gives: the exact pattern, or for a NaN any NaN of its sign.</summary>
    private static bool Rounds(uint bits, ushort actual) =>
        IsNaN(bits)
            ? (actual & 0x7F80) == 0x7F80 && (actual & 0x7F) != 0 && (actual & 0x8000) == ((bits >> 16) & 0x8000)
            : actual == RoundToNearestEven(bits);

    private static bool IsNaN(uint bits) => (bits & 0x7FFF_FFFF) > 0x7F80_0000;

    /// <summary>
    /// The bf16 pattern nearest to the float32 <paramref name="bits"/>, ties to the even pattern. The candidates are the
    /// magnitude truncated to bf16 and the next bf16 magnitude up, whose value is 2^128 when it is the infinity pattern
    /// (IEEE: a result at or past the midpoint between the largest finite value and 2^128 rounds to infinity).
    /// Distances are exact in double. NaN input returns the quiet NaN of its sign (callers accept any NaN).
    /// </summary>
    private static ushort RoundToNearestEven(uint bits)
    {
        ushort sign = (ushort)((bits >> 16) & 0x8000);
        uint magnitude = bits & 0x7FFF_FFFF;
        if (magnitude > 0x7F80_0000)
        {
            return (ushort)(sign | 0x7FC0);
        }

        if (magnitude == 0x7F80_0000)
        {
            return (ushort)(sign | 0x7F80);
        }

        uint down = magnitude >> 16, up = down + 1;
        double x = BitConverter.UInt32BitsToSingle(magnitude);
        double below = BitConverter.UInt32BitsToSingle(down << 16);
        double above = up == 0x7F80 ? Math.ScaleB(1.0, 128) : BitConverter.UInt32BitsToSingle(up << 16);
        double toBelow = x - below, toAbove = above - x;
        uint nearest = toBelow < toAbove ? down : toBelow > toAbove ? up : (down & 1) == 0 ? down : up;
        return (ushort)(sign | nearest);
    }

    /// <summary>
    /// Converts a run of 40 values with <paramref name="bits"/> at <paramref name="position"/>: two vector steps of 16
    /// (where the vector loop runs), then a scalar tail of 8.
    /// </summary>
    private static ushort ConvertRun(uint bits, int position)
    {
        float[] values = new float[40];
        values.AsSpan().Fill(1.5f);
        values[position] = BitConverter.UInt32BitsToSingle(bits);
        ushort[] run = new ushort[40];
        BFloat16Conversions.FromSingle(values, run);
        return run[position];
    }
}
