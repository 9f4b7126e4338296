using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Weights;
using Xunit.Abstractions;

namespace Rwkv7.Gen.Gpu.Tests;

public sealed class SmokeTests(ITestOutputHelper output)
{
    [Fact]
    public void Smoke()
    {
        var sw = Stopwatch.StartNew();
        using var context = Context.Create(b => b.CPU(new CPUDevice(32, 2, 1)));
        using var acc = context.CreateCPUAccelerator(0);
        using RwkvWeights weights = RwkvWeights.Load(Fixtures.Path(Models.Mh4Pth));
        using GpuRwkvModel model = GpuRwkvModel.Create(weights, acc);
        output.WriteLine($"create {sw.ElapsedMilliseconds} ms");
        sw.Restart();
        using GpuState state = model.CreateState();
        Goldens g = Goldens.Mh4;
        int v = weights.Shape.Vocab;
        float[] all = new float[g.Tokens.Length * v];
        for (int t = 0; t < 4; t++)
        {
            model.Forward(g.Tokens[t], state, all.AsSpan(t * v, v));
            output.WriteLine($"token {t} {sw.ElapsedMilliseconds} ms");
        }

        Tolerance.AssertLogitRows(g.Logits.AsSpan(0, 4 * v), all.AsSpan(0, 4 * v), v, "smoke");
    }
}
