using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using Rwkv7.Gen.Gpu.Kernels;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Gpu;

/// <summary>
/// A model's weights on the device, laid out for the generated kernels: one buffer of 32-bit words for every matrix
/// (bf16 pairs or fp32 patterns) and one fp32 buffer for every vector. Per layer, the matrices that read the same
/// input width are concatenated so that one launch covers them: [R; K; V; W1; A1; G1; V1] (all D inputs) and
/// [W2 | A2 | G2 | V2] (the LoRA up-projections).
/// </summary>
internal sealed class GpuWeights : IDisposable
{
    private readonly MemoryBuffer1D<uint, Stride1D.Dense> _matrices;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _vectors;

    public GpuWeights(Accelerator accelerator, RwkvWeights weights, GpuWeightFormat format)
    {
        Format = format;
        ModelShape s = weights.Shape;
        var matrices = new List<(WeightMatrix Matrix, long Offset)>();
        var vectors = new List<(float[] Values, long Offset)>();
        long matrixWords = 0, vectorFloats = 0;

        long AddMatrix(WeightMatrix m)
        {
            long at = matrixWords;
            matrices.Add((m, at));
            matrixWords += Words(m.Rows, m.Cols);
            return at;
        }

        long AddVectors(params float[][] parts)
        {
            long at = vectorFloats;
            foreach (float[] p in parts)
            {
                vectors.Add((p, vectorFloats));
                vectorFloats += p.Length;
            }

            return at;
        }

        EmbeddingOffset = AddMatrix(weights.Embedding);
        HeadOffset = AddMatrix(weights.Head);
        Ln0 = AddVectors(weights.Ln0Weight, weights.Ln0Bias);
        LnOut = AddVectors(weights.LnOutWeight, weights.LnOutBias);
        float[] zeros = new float[s.Embedding];
        var layers = new LayerOffsets[s.Layers];
        for (int i = 0; i < s.Layers; i++)
        {
            LayerWeights w = weights.Layers[i];
            bool valueLora = i > 0;
            var l = new LayerOffsets
            {
                Projections = AddMatrix(w.Receptance),
                ProjectionRows = (3 * s.Embedding) + s.DecayRank + s.IclrRank + s.GateRank + (valueLora ? s.ValueRank : 0),
            };
            AddMatrix(w.Key);
            AddMatrix(w.Value);
            AddMatrix(w.DecayDown);
            AddMatrix(w.IclrDown);
            AddMatrix(w.GateDown);
            if (valueLora)
            {
                AddMatrix(w.ValueDown);
            }

            l.LoraUp = AddMatrix(w.DecayUp);
            AddMatrix(w.IclrUp);
            AddMatrix(w.GateUp);
            if (valueLora)
            {
                AddMatrix(w.ValueUp);
            }

            l.Output = AddMatrix(w.Output);
            l.FfnKey = AddMatrix(w.FfnKey);
            l.FfnValue = AddMatrix(w.FfnValue);

            l.Ln1 = AddVectors(w.Ln1Weight, w.Ln1Bias);
            l.Ln2 = AddVectors(w.Ln2Weight, w.Ln2Bias);
            l.TimeMix = AddVectors(w.MixR, w.MixK, w.MixV, w.MixW, w.MixA, w.MixG); // plane order of the projections
            l.LoraBias = AddVectors(w.DecayBias, w.IclrBias, zeros, valueLora ? w.ValueBias : zeros);
            l.HeadVectors = AddVectors(w.KeyK, w.KeyA, w.BonusRK, w.LnXWeight, w.LnXBias);
            l.ChannelMix = AddVectors(w.FfnMixK);
            layers[i] = l;
        }

        Layers = layers;
        _matrices = accelerator.Allocate1D<uint>(Math.Max(matrixWords, 1));
        _vectors = accelerator.Allocate1D<float>(Math.Max(vectorFloats, 1));
        try
        {
            foreach ((float[] values, long offset) in vectors)
            {
                Vectors.SubView(offset, values.Length).CopyFromCPU(values);
            }

            foreach ((WeightMatrix m, long offset) in matrices)
            {
                Upload(m, offset);
            }
        }
        catch
        {
            Dispose();
            throw;
        }

        Bytes = (matrixWords * sizeof(uint)) + (vectorFloats * sizeof(float));
    }

    public GpuWeightFormat Format { get; }

    public long EmbeddingOffset { get; }

    public long HeadOffset { get; }

    /// <summary>Offsets of [ln0.weight | ln0.bias] and [ln_out.weight | ln_out.bias] in the vector buffer.</summary>
    public long Ln0 { get; }

    /// <inheritdoc cref="Ln0"/>
    public long LnOut { get; }

    public IReadOnlyList<LayerOffsets> Layers { get; }

    /// <summary>Device bytes held.</summary>
    public long Bytes { get; }

    public ArrayView<uint> Matrices => _matrices.View;

    public ArrayView<float> Vectors => _vectors.View;

    public ArrayView<uint> Matrix(long offset) => Matrices.SubView(offset, _matrices.Length - offset);

    public ArrayView<float> Vector(long offset, long length) => Vectors.SubView(offset, length);

    public void Dispose()
    {
        _matrices?.Dispose();
        _vectors?.Dispose();
    }

    private long Words(int rows, int cols) => Format == GpuWeightFormat.Bf16 ? (long)rows * cols / 2 : (long)rows * cols;

    private void Upload(WeightMatrix m, long offset)
    {
        long words = Words(m.Rows, m.Cols);
        ArrayView<uint> target = Matrices.SubView(offset, words);
        if (Format == GpuWeightFormat.Bf16 && m.Type == TensorDType.BF16)
        {
            target.CopyFromCPU(MemoryMarshal.Cast<ushort, uint>(m.AsBF16Span()));
        }
        else if (Format == GpuWeightFormat.F32 && m.Type == TensorDType.F32)
        {
            target.CopyFromCPU(MemoryMarshal.Cast<float, uint>(m.AsF32Span()));
        }
        else if (Format == GpuWeightFormat.F32)
        {
            // bf16 or fp16 widened exactly to fp32, a row at a time.
            float[] row = new float[m.Cols];
            for (int r = 0; r < m.Rows; r++)
            {
                m.ReadRow(r, row);
                target.SubView((long)r * m.Cols, m.Cols).CopyFromCPU(MemoryMarshal.Cast<float, uint>(row.AsSpan()));
            }
        }
        else
        {
            throw new InvalidOperationException($"Cannot store {m.Type.DisplayName()} matrices as bf16 without rounding.");
        }
    }

    /// <summary>Where one layer's weights start (matrix offsets in words, vector offsets in floats).</summary>
    internal struct LayerOffsets
    {
        public long Projections;
        public int ProjectionRows;
        public long LoraUp;
        public long Output;
        public long FfnKey;
        public long FfnValue;
        public long Ln1;
        public long Ln2;
        public long TimeMix;
        public long LoraBias;
        public long HeadVectors;
        public long ChannelMix;
    }
}
