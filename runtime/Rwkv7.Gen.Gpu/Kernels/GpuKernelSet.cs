using ILGPU;
using ILGPU.Runtime;

namespace Rwkv7.Gen.Gpu.Kernels;

/// <summary>How matrices are stored on the device.</summary>
public enum GpuWeightFormat
{
    /// <summary>bfloat16, two per 32-bit word (as released checkpoints store them); widened exactly to fp32 in registers.</summary>
    Bf16,

    /// <summary>float32 (fp32 checkpoints; fp16 matrices are widened to fp32 exactly when uploaded).</summary>
    F32,
}

/// <summary>
/// The kernels of one shape, compiled for one accelerator and weight format. The Rwkv7.Gen source generator writes a
/// subclass per shape file (the nested <c>GpuKernels</c> type of the generated model) when the consuming project
/// references this assembly; <see cref="GpuRwkvModel"/> orchestrates the calls.
/// </summary>
/// <remarks>
/// Each method launches one kernel on the given stream; the kernel configuration gives the grid and group
/// sizes, which <see cref="GpuRwkvModel"/> derives from its <see cref="GpuLaunchProfile"/>.
/// </remarks>
public abstract class GpuKernelSet
{
    /// <summary>Binds the set to an accelerator and a weight format.</summary>
    protected GpuKernelSet(Accelerator accelerator, GpuWeightFormat format)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        Accelerator = accelerator;
        Format = format;
    }

    /// <summary>The accelerator the kernels were compiled for.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>The weight format the matrix kernels read.</summary>
    public GpuWeightFormat Format { get; }

    /// <summary>x[m] = ln0(emb[token[m]]): one group per row.</summary>
    public abstract void Embed(AcceleratorStream stream, KernelConfig config, EmbedArgs args);

    /// <summary>ln1 and the six token-shift mixes: one group per row.</summary>
    public abstract void TimeMixInput(AcceleratorStream stream, KernelConfig config, TokenShiftArgs args);

    /// <summary>ln2 and the channel-mix token shift: one group per row.</summary>
    public abstract void ChannelMixInput(AcceleratorStream stream, KernelConfig config, TokenShiftArgs args);

    /// <summary>r, k, v and the four LoRA hidden vectors (tanh / none / sigmoid / none) in one product.</summary>
    public abstract void Projections(AcceleratorStream stream, KernelConfig config, MatMulArgs args);

    /// <summary>The LoRA up-projections with their activations (decay, in-context rate, gate, value residual).</summary>
    public abstract void LoraUp(AcceleratorStream stream, KernelConfig config, LoraUpArgs args);

    /// <summary>The WKV-7 recurrence with GroupNorm, bonus and gate: one group of 64 threads per (run, head).</summary>
    public abstract void Wkv(AcceleratorStream stream, KernelConfig config, WkvArgs args);

    /// <summary>A product with D inputs (output projection, FFN key, head).</summary>
    public abstract void MatMulD(AcceleratorStream stream, KernelConfig config, MatMulArgs args);

    /// <summary>A product with FFN inputs (FFN value).</summary>
    public abstract void MatMulF(AcceleratorStream stream, KernelConfig config, MatMulArgs args);

    /// <summary>ln_out of the rows whose logits are wanted: one group per output row.</summary>
    public abstract void FinalNorm(AcceleratorStream stream, KernelConfig config, FinalNormArgs args);
}
