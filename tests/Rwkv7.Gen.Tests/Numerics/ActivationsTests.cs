using Rwkv7.Gen.Specialized;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// The step's element-wise functions (<see cref="Activations"/>) against float64 references, on every SIMD width the
/// test run allows, and independent of where an element falls in its span (whole vectors or the last partial one).
/// </summary>
[Trait(SimdWidth.Trait, SimdWidth.AllWidths)] // vector paths: rerun on every SIMD width (eng/test.sh)
public sealed class ActivationsTests
{
    private static float[] Inputs()
    {
        var values = new List<float> { 0f, -0f, 1e-30f, -1e-30f, 1e-7f, -3e-5f, 0.5499f, 0.55f, 0.5501f, -0.55f, 88f, -88f, 100f, -100f, float.MaxValue, float.MinValue };
        var rng = new Random(7);
        for (int i = 0; i < 4000; i++)
        {
            // Magnitudes from 1e-6 to 30, both signs, plus a dense sweep around 0.
            double magnitude = Math.Pow(10, -6 + (rng.NextDouble() * 7.5));
            values.Add((float)(rng.Next(2) == 0 ? magnitude : -magnitude));
            values.Add((float)((rng.NextDouble() * 4) - 2));
        }

        return [.. values];
    }

    [Fact]
    public void Tanh_is_within_a_few_units_in_the_last_place()
    {
        float[] x = Inputs(), y = [.. x];
        Activations.Tanh(y);
        for (int i = 0; i < x.Length; i++)
        {
            AssertClose(Math.Tanh(x[i]), y[i], 4, $"tanh({x[i]:R})");
        }

        float[] special = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f];
        Activations.Tanh(special);
        Assert.True(float.IsNaN(special[0]));
        Assert.Equal(1f, special[1]);
        Assert.Equal(-1f, special[2]);
        Assert.True(float.IsNegative(special[3]) && special[3] == 0, "tanh(-0) is -0");
    }

    [Fact]
    public void Sigmoid_and_decay_are_within_a_few_units_in_the_last_place()
    {
        float[] x = Inputs(), s = [.. x], d = [.. x];
        const float scale = -0.60653066f;
        Activations.Sigmoid(s);
        Activations.Decay(d, scale);
        for (int i = 0; i < x.Length; i++)
        {
            double sigmoid = 1 / (1 + Math.Exp(-(double)x[i]));
            AssertClose(sigmoid, s[i], 4, $"sigmoid({x[i]:R})");
            AssertClose(Math.Exp(scale * sigmoid), d[i], 4, $"decay({x[i]:R})");
        }
    }

    [Fact]
    public void Squared_relu_lerp_and_add_are_exact()
    {
        float[] x = Inputs(), r = [.. x], y = [.. x.Select(v => v * 0.5f)], amount = [.. x.Select((_, i) => (i % 11) / 10f)];
        Activations.SquaredRelu(r);
        float[] lerp = [.. x], sum = [.. x];
        Activations.Lerp(lerp, y, amount);
        Activations.Add(sum, y);
        for (int i = 0; i < x.Length; i++)
        {
            float m = Math.Max(x[i], 0f);
            Assert.Equal(m * m, r[i]);
            Assert.Equal(x[i] + ((y[i] - x[i]) * amount[i]), lerp[i]);
            Assert.Equal(x[i] + y[i], sum[i]);
        }
    }

    [Fact]
    public void An_element_gets_the_same_bits_wherever_it_falls_in_its_span()
    {
        // A row split between threads puts an element in a whole vector in one call and in the last partial one in
        // another: its result must not change (a batch row equals its session's one-token step only if it does not).
        float[] x = Inputs()[..67];
        foreach (Action<float[]> f in new Action<float[]>[] { v => Activations.Tanh(v), v => Activations.Sigmoid(v), v => Activations.Decay(v, -0.6f), v => Activations.SquaredRelu(v) })
        {
            float[] whole = [.. x];
            f(whole);
            for (int start = 0; start < 20; start++)
            {
                for (int length = 1; start + length <= x.Length; length += 7)
                {
                    float[] part = x[start..(start + length)];
                    f(part);
                    for (int i = 0; i < length; i++)
                    {
                        Assert.Equal(BitConverter.SingleToInt32Bits(whole[start + i]), BitConverter.SingleToInt32Bits(part[i]));
                    }
                }
            }
        }
    }

    private static void AssertClose(double expected, float actual, int ulps, string what)
    {
        // A few units in the last place of the expected float, and no less than 1e-37 where a result underflows toward
        // float's subnormal range (a sigmoid of -88 or below).
        float magnitude = (float)Math.Abs(expected);
        double allowed = Math.Max(ulps * (double)(MathF.BitIncrement(magnitude) - magnitude), 1e-37);
        Assert.True(Math.Abs(actual - expected) <= allowed, $"{what}: {actual:R} against {expected:R} (allowed {allowed:E2})");
    }
}
