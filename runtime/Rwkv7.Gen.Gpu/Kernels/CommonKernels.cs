using ILGPU;
using ILGPU.Runtime;

namespace Rwkv7.Gen.Gpu.Kernels;

/// <summary>Kernels that do not depend on the shape: written once here, not generated.</summary>
internal static class CommonKernels
{
    /// <summary>Greedy sampling: one group per row, each thread scans a strided part, then a reduction in shared memory.</summary>
    public static void Argmax(ArgmaxArgs a)
    {
        // Shapes: logits [Rows][Vocab] -> out [Rows].
        ArrayView<float> bestValues = SharedMemory.Allocate<float>(GpuLaunchProfile.MaxGroupThreads);
        ArrayView<int> bestIndices = SharedMemory.Allocate<int>(GpuLaunchProfile.MaxGroupThreads);
        int row = Grid.IdxX;
        int t = Group.IdxX;
        int threads = Group.DimX;
        long rowStart = (long)row * a.Vocab;
        float best = float.NegativeInfinity;
        int bestIndex = int.MaxValue;
        for (int v = t; v < a.Vocab; v += threads)
        {
            float value = a.Logits[rowStart + v];
            if (value > best)
            {
                best = value;
                bestIndex = v;
            }
        }

        if (threads > 1)
        {
            bestValues[t] = best;
            bestIndices[t] = bestIndex;
            Group.Barrier();
            if (t == 0)
            {
                for (int u = 1; u < threads; u++)
                {
                    float value = bestValues[u];
                    int index = bestIndices[u];
                    if (value > best || (value == best && index < bestIndex))
                    {
                        best = value;
                        bestIndex = index;
                    }
                }
            }
        }

        if (t == 0)
        {
            a.Out[row] = bestIndex == int.MaxValue ? 0 : bestIndex;
        }
    }
}
