using Rwkv7.Gen.Benchmarking;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// What a parallel step works on: the forward pass fills it in before each step, and every part of the step reads it
/// (<see cref="ModelSteps{TKernels}"/>). One per <see cref="Workspace"/>, reused for every step.
/// </summary>
internal sealed unsafe class StepContext(Workspace workspace)
{
    /// <summary>The activations of the block in flight.</summary>
    public Workspace Workspace { get; } = workspace;

    /// <summary>The model's weights (the head step reads the output head).</summary>
    public RwkvWeights Weights { get; set; } = null!;

    /// <summary>Which step runs.</summary>
    public ModelStep Kind { get; set; }

    /// <summary>The layer in flight, and its index.</summary>
    public LayerWeights Layer { get; set; } = null!;

    /// <inheritdoc cref="Layer"/>
    public int LayerIndex { get; set; }

    /// <summary>Rows are consecutive tokens of one sequence (prefill), not one token of each of several sessions.</summary>
    public bool Chained { get; set; }

    /// <summary>The step's products read inputs rounded to 16 bits (<see cref="ModelStep.InputRounding"/>).</summary>
    public bool Int16Inputs { get; set; }

    /// <summary>During <see cref="ModelStep.InputRounding"/>: the step whose inputs are rounded (<see cref="ModelSteps{TKernels}.RoundingInput"/>).</summary>
    public ModelStep RoundingFor { get; set; }

    /// <summary>
    /// Most rows of a sequence whose 4-bit products read 16-bit inputs at this vector width
    /// (<see cref="CpuTuning.Int16SequenceTokens512"/>, <see cref="CpuTuning.Int16SequenceTokens256"/>; 0 without vectors).
    /// </summary>
    public int Int16SequenceTokens { get; set; }

    /// <summary>The LayerNorm step's parameters (ln1 or ln2).</summary>
    public float[] NormWeight { get; set; } = [];

    /// <inheritdoc cref="NormWeight"/>
    public float[] NormBias { get; set; } = [];

    /// <summary>Rows of the block (tokens, or sessions in batch mode).</summary>
    public int Tokens { get; set; }

    /// <summary>Where the head step writes its logits, and how many floats there are.</summary>
    public float* Logits { get; set; }

    /// <inheritdoc cref="Logits"/>
    public int LogitsLength { get; set; }
}
