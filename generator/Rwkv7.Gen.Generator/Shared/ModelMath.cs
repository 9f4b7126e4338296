// Shared by the source generator (netstandard2.0), the runtime and the GPU kernels (net10.0): the one place where
// RWKV-7's numbers are written. The reference engine computes with them, the generator writes them into every
// generated model, and the GPU kernels read them through GpuMath. Keep this file to what netstandard2.0 has (no MathF,
// no spans) and to plain arithmetic that ILGPU compiles for a device.
using System;

namespace Rwkv7.Gen
{
    /// <summary>The constants and scalar formulas of an RWKV-7 ("x070") forward pass, as its training code has them.</summary>
    internal static class ModelMath
    {
        /// <summary>Channels per head: every released RWKV-7 model uses 64, the only size the kernels are written for.</summary>
        public const int HeadSize = 64;

        /// <summary>e^(-1/2): the decay is exp(-e^(-1/2)·sigmoid(·)), always in (0.545, 1).</summary>
        public const float DecayScale = 0.60653065971263342f;

        /// <summary>LayerNorm epsilon (ln0, ln1, ln2, ln_out).</summary>
        public const float LayerNormEps = 1e-5f;

        /// <summary>GroupNorm (ln_x) epsilon: 64e-5, i.e. 1e-5 times the head size.</summary>
        public const float GroupNormEps = 64e-5f;

        /// <summary>Floor of the norm in the per-head L2 normalization of kk.</summary>
        public const float NormFloor = 1e-12f;

        /// <summary>
        /// Consecutive values of a row of an 8-bit (q8) matrix that share one fp32 scale: the block of the packed layout
        /// (the runtime's <c>Q8Block</c>) and of the generated 8-bit kernels.
        /// </summary>
        public const int Q8BlockSize = 32;

        /// <summary>The channel mix's activation, relu(x)²; NaN stays NaN.</summary>
        public static float SquaredRelu(float x)
        {
            float relu = Math.Max(x, 0f);
            return relu * relu;
        }
    }
}
