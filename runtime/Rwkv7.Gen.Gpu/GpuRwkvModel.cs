using System.Diagnostics.CodeAnalysis;
using ILGPU;
using ILGPU.Runtime;
using Rwkv7.Gen.Gpu.Kernels;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Gen.Gpu;

/// <summary>Options for <see cref="GpuRwkvModel.Create"/>.</summary>
public sealed class GpuModelOptions
{
    /// <summary>
    /// Rows of activations held on the device: the most tokens of one prefill chunk, or sessions decoded in one step.
    /// Longer sequences and larger batches run in chunks of this many. Default 64.
    /// </summary>
    public int MaxRows { get; init; } = 64;

    /// <summary>Group sizes; null picks <see cref="GpuLaunchProfile.For"/> the accelerator.</summary>
    public GpuLaunchProfile? Profile { get; init; }

    /// <summary>
    /// Matrix storage on the device; null keeps bf16 when every matrix is bf16 and uses fp32 otherwise (both exact).
    /// </summary>
    public GpuWeightFormat? Format { get; init; }
}

/// <summary>
/// An RWKV-7 model on an ILGPU accelerator (CUDA, or ILGPU's CPU accelerator), running the kernels the Rwkv7.Gen
/// source generator wrote for its shape. A whole token runs on the device; only logits (or sampled tokens) come back.
/// </summary>
/// <remarks>
/// Not thread-safe: calls on one model are serialized with a lock (its activation buffers are shared). Sessions live in
/// <see cref="GpuState"/> objects and can move to and from <see cref="RwkvState"/>.
/// </remarks>
public sealed class GpuRwkvModel : IDisposable
{
    private readonly object _gate = new();
    private readonly GpuKernelSet _kernels;
    private readonly GpuWeights _weights;
    private readonly AcceleratorStream _stream;
    private readonly Action<AcceleratorStream, KernelConfig, ArgmaxArgs> _argmax;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _tokens;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _x, _mix, _p, _q, _vFirst, _y, _hidden, _normed, _logits;
    private readonly int _d, _pStride, _planeStride;

    private GpuRwkvModel(RwkvWeights weights, Accelerator accelerator, GpuModelInfo info, GpuModelOptions options)
    {
        Shape = weights.Shape;
        Accelerator = accelerator;
        KernelTypeName = info.TypeName;
        Profile = options.Profile ?? GpuLaunchProfile.For(accelerator);
        Profile.Validate(accelerator);
        MaxRows = options.MaxRows;
        Format = options.Format ?? (weights.MatrixType == TensorDType.BF16 ? GpuWeightFormat.Bf16 : GpuWeightFormat.F32);

        ModelShape s = Shape;
        _d = s.Embedding;
        _pStride = (3 * s.Embedding) + s.DecayRank + s.IclrRank + s.GateRank + s.ValueRank;
        _planeStride = MaxRows * _d;
        _stream = accelerator.DefaultStream;
        var owned = new List<IDisposable>();
        try
        {
            _kernels = info.Create(accelerator, Format);
            _argmax = accelerator.LoadKernel<ArgmaxArgs>(CommonKernels.Argmax);
            _weights = new GpuWeights(accelerator, weights, Format);
            owned.Add(_weights);
            MemoryBuffer1D<float, Stride1D.Dense> Floats(long n)
            {
                var b = accelerator.Allocate1D<float>(n);
                owned.Add(b);
                return b;
            }

            _tokens = accelerator.Allocate1D<int>(MaxRows);
            owned.Add(_tokens);
            _x = Floats((long)MaxRows * _d);
            _mix = Floats(6L * _planeStride);
            _p = Floats((long)MaxRows * _pStride);
            _q = Floats(4L * MaxRows * _d);
            _vFirst = Floats((long)MaxRows * _d);
            _y = Floats((long)MaxRows * _d);
            _hidden = Floats((long)MaxRows * s.Ffn);
            _normed = Floats((long)MaxRows * _d);
            _logits = Floats((long)MaxRows * s.Vocab);
        }
        catch
        {
            foreach (IDisposable d in owned)
            {
                d.Dispose();
            }

            throw;
        }
    }

    /// <summary>The model's shape.</summary>
    public ModelShape Shape { get; }

    /// <summary>The accelerator the model runs on.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>Full name of the generated kernel type.</summary>
    public string KernelTypeName { get; }

    /// <summary>Group sizes used for launches.</summary>
    public GpuLaunchProfile Profile { get; }

    /// <summary>How matrices are stored on the device.</summary>
    public GpuWeightFormat Format { get; }

    /// <summary>Rows of activations per launch (see <see cref="GpuModelOptions.MaxRows"/>).</summary>
    public int MaxRows { get; }

    /// <summary>Device bytes of weights.</summary>
    public long WeightBytes => _weights.Bytes;

    /// <summary>
    /// Uploads <paramref name="weights"/> to <paramref name="accelerator"/> and compiles the generated kernels of their
    /// shape. The weights can be disposed afterwards.
    /// </summary>
    /// <exception cref="NotSupportedException">The GPU path is unavailable (no dynamic code, or switched off: <see cref="GpuFeature"/>).</exception>
    /// <exception cref="RwkvException">No kernels were generated for these layer widths.</exception>
    [RequiresDynamicCode("ILGPU compiles kernels at run time.")]
    public static GpuRwkvModel Create(RwkvWeights weights, Accelerator accelerator, GpuModelOptions? options = null)
    {
        GpuFeature.EnsureSupported();
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(accelerator);
        options ??= new GpuModelOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxRows, 1);
        GpuModelInfo info = GpuModelRegistry.FindFor(weights.Shape)
            ?? throw new RwkvException(
                $"No GPU kernels are generated for {weights.Shape}. Add a shape file with these layer widths to a project that references Rwkv7.Gen.Gpu.");
        return new GpuRwkvModel(weights, accelerator, info, options);
    }

    /// <summary>A new all-zero state of <paramref name="sessions"/> sessions on this model's accelerator.</summary>
    public GpuState CreateState(int sessions = 1) => new(Accelerator, Shape, sessions);

    /// <summary>RNN mode: feeds one token to session <paramref name="session"/> and writes the next-token logits.</summary>
    /// <param name="token">Token id in [0, V).</param>
    /// <param name="state">The sessions' state, updated in place on the device.</param>
    /// <param name="logits">V floats, or empty to skip the output head.</param>
    /// <param name="session">Which session of <paramref name="state"/>.</param>
    public void Forward(int token, GpuState state, Span<float> logits, int session = 0) =>
        Forward([token], state, logits, session);

    /// <summary>
    /// Sequence mode (prefill): feeds <paramref name="tokens"/> to one session and writes the logits after the last.
    /// Runs MaxRows tokens per launch; each layer sees the whole chunk at once.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, GpuState state, Span<float> logits, int session = 0)
    {
        CheckState(state, session, 1);
        CheckTokens(tokens);
        CheckLogits(logits, 1);
        lock (_gate)
        {
            for (int start = 0; start < tokens.Length; start += MaxRows)
            {
                int count = Math.Min(MaxRows, tokens.Length - start);
                bool last = start + count == tokens.Length;
                UploadTokens(tokens.Slice(start, count));
                RunChunk(state, session, 1, count, Flat(_tokens), allRows: false, wantLogits: last && !logits.IsEmpty);
                if (last && !logits.IsEmpty)
                {
                    Flat(_logits).SubView(0, Shape.Vocab).CopyToCPU(logits);
                }
            }

            _stream.Synchronize();
        }
    }

    /// <summary>Sequence mode returning the logits after every token: <paramref name="logits"/> is [T][V].</summary>
    public void ForwardAll(ReadOnlySpan<int> tokens, GpuState state, Span<float> logits, int session = 0)
    {
        CheckState(state, session, 1);
        CheckTokens(tokens);
        if (logits.Length != tokens.Length * Shape.Vocab)
        {
            throw new ArgumentException($"Expected {tokens.Length}×{Shape.Vocab} logits, got a span of {logits.Length}.", nameof(logits));
        }

        lock (_gate)
        {
            int v = Shape.Vocab;
            for (int start = 0; start < tokens.Length; start += MaxRows)
            {
                int count = Math.Min(MaxRows, tokens.Length - start);
                UploadTokens(tokens.Slice(start, count));
                RunChunk(state, session, 1, count, Flat(_tokens), allRows: true, wantLogits: true);
                Flat(_logits).SubView(0, (long)count * v).CopyToCPU(logits.Slice(start * v, count * v));
            }

            _stream.Synchronize();
        }
    }

    /// <summary>
    /// Batch decode: one token for each session of <paramref name="state"/> (token b goes to session b), all sessions
    /// in the same launches. <paramref name="logits"/> is [B][V], or empty.
    /// </summary>
    public void ForwardBatch(ReadOnlySpan<int> tokens, GpuState state, Span<float> logits)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (tokens.Length != state.Sessions)
        {
            throw new ArgumentException($"Expected one token per session ({state.Sessions}), got {tokens.Length}.", nameof(tokens));
        }

        CheckState(state, 0, tokens.Length);
        CheckTokens(tokens);
        CheckLogits(logits, tokens.Length);
        lock (_gate)
        {
            int v = Shape.Vocab;
            for (int start = 0; start < tokens.Length; start += MaxRows)
            {
                int count = Math.Min(MaxRows, tokens.Length - start);
                UploadTokens(tokens.Slice(start, count));
                RunChunk(state, start, count, 1, Flat(_tokens), allRows: false, wantLogits: !logits.IsEmpty);
                if (!logits.IsEmpty)
                {
                    Flat(_logits).SubView(0, (long)count * v).CopyToCPU(logits.Slice(start * v, count * v));
                }
            }

            _stream.Synchronize();
        }
    }

    /// <summary>
    /// Greedy decoding of every session at once, entirely on the device: feeds <paramref name="firstTokens"/> (one per
    /// session), then each step's argmax as the next input. Only the chosen tokens come back:
    /// <paramref name="generated"/> is [steps][B]. Sessions must not exceed <see cref="MaxRows"/>.
    /// </summary>
    public void DecodeGreedy(ReadOnlySpan<int> firstTokens, GpuState state, Span<int> generated)
    {
        ArgumentNullException.ThrowIfNull(state);
        int b = firstTokens.Length;
        if (b != state.Sessions || b > MaxRows)
        {
            throw new ArgumentException($"Expected one first token per session ({state.Sessions}, at most {MaxRows}), got {b}.", nameof(firstTokens));
        }

        if (generated.Length % b != 0)
        {
            throw new ArgumentException($"The output holds whole steps of {b} tokens.", nameof(generated));
        }

        CheckState(state, 0, b);
        CheckTokens(firstTokens);
        int steps = generated.Length / b;
        lock (_gate)
        {
            using MemoryBuffer1D<int, Stride1D.Dense> chain = Accelerator.Allocate1D<int>((long)(steps + 1) * b);
            Flat(chain).SubView(0, b).CopyFromCPU(firstTokens);
            for (int step = 0; step < steps; step++)
            {
                RunChunk(state, 0, b, 1, Flat(chain).SubView((long)step * b, b), allRows: false, wantLogits: true);
                _argmax(_stream, new KernelConfig(b, Profile.RowThreads), new ArgmaxArgs
                {
                    Logits = Flat(_logits),
                    Out = Flat(chain).SubView((long)(step + 1) * b, b),
                    Vocab = Shape.Vocab,
                    Rows = b,
                });
            }

            _stream.Synchronize();
            Flat(chain).SubView(b, (long)steps * b).CopyToCPU(generated);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (IDisposable d in new IDisposable[] { _weights, _tokens, _x, _mix, _p, _q, _vFirst, _y, _hidden, _normed, _logits })
        {
            d.Dispose();
        }
    }

    /// <summary>
    /// Runs <paramref name="runs"/> × <paramref name="runLength"/> rows through the whole model: run r is session
    /// <paramref name="firstSession"/> + r. Writes logits for every row, or for the last row of each run.
    /// </summary>
    private void RunChunk(GpuState state, int firstSession, int runs, int runLength, ArrayView<int> tokens, bool allRows, bool wantLogits)
    {
        ModelShape s = Shape;
        int d = _d, rows = runs * runLength;
        GpuLaunchProfile pr = Profile;
        ArrayView<float> states = state.View.SubView(firstSession * state.SessionStride, runs * state.SessionStride);
        var rowConfig = new KernelConfig(rows, pr.RowThreads);

        _kernels.Embed(_stream, rowConfig, new EmbedArgs
        {
            Tokens = tokens,
            Embedding = _weights.Matrix(_weights.EmbeddingOffset),
            LnWeight = _weights.Vector(_weights.Ln0, d),
            LnBias = _weights.Vector(_weights.Ln0 + d, d),
            X = Flat(_x),
            Rows = rows,
        });

        for (int layer = 0; layer < s.Layers; layer++)
        {
            GpuWeights.LayerOffsets lw = _weights.Layers[layer];
            long stateBase = (long)layer * s.StateFloatsPerLayer;

            // Time mix: ln1 + token shift -> six planes; r, k, v and LoRA hidden vectors; LoRA outputs; WKV; output.
            _kernels.TimeMixInput(_stream, rowConfig, new TokenShiftArgs
            {
                X = Flat(_x),
                LnWeight = _weights.Vector(lw.Ln1, d),
                LnBias = _weights.Vector(lw.Ln1 + d, d),
                Mix = _weights.Vector(lw.TimeMix, 6L * d),
                State = states,
                ShiftOffset = stateBase,
                SessionStride = state.SessionStride,
                Out = Flat(_mix),
                PlaneStride = _planeStride,
                Rows = rows,
                RunLength = runLength,
            });

            _kernels.Projections(_stream, MatMulConfig(lw.ProjectionRows, pr.LanesPerRow), new MatMulArgs
            {
                W = _weights.Matrix(lw.Projections),
                X = Flat(_mix),
                XStride = d,
                XPlaneStride = _planeStride,
                Y = Flat(_p),
                YStride = _pStride,
                VFirst = Flat(_vFirst),
                StoreVFirst = layer == 0 ? 1 : 0,
                Tokens = rows,
                OutRows = lw.ProjectionRows,
                Epilogue = Epilogue.Store,
                LanesPerRow = pr.LanesPerRow,
            });

            int loraRows = (layer == 0 ? 3 : 4) * d;
            _kernels.LoraUp(_stream, MatMulConfig(loraRows, pr.LoraLanesPerRow), new LoraUpArgs
            {
                W = _weights.Matrix(lw.LoraUp),
                P = Flat(_p),
                PStride = _pStride,
                VFirst = Flat(_vFirst),
                Bias = _weights.Vector(lw.LoraBias, 4L * d),
                Q = Flat(_q),
                Tokens = rows,
                OutRows = loraRows,
                LanesPerRow = pr.LoraLanesPerRow,
            });

            _kernels.Wkv(_stream, new KernelConfig(runs * s.Heads, GpuLaunchProfile.WkvThreads), new WkvArgs
            {
                P = Flat(_p),
                PStride = _pStride,
                Q = Flat(_q),
                V = layer == 0 ? Flat(_p).SubView(2L * d, (long)rows * _pStride - (2L * d)) : Flat(_q).SubView(3L * d, (4L * rows * d) - (3L * d)),
                VStride = layer == 0 ? _pStride : 4 * d,
                HeadVectors = _weights.Vector(lw.HeadVectors, 5L * d),
                State = states,
                WkvOffset = stateBase + (2L * d),
                SessionStride = state.SessionStride,
                Y = Flat(_y),
                RunLength = runLength,
            });

            _kernels.MatMulD(_stream, MatMulConfig(d, pr.LanesPerRow), Product(lw.Output, Flat(_y), d, Flat(_x), d, rows, d, Epilogue.Accumulate));

            // Channel mix: ln2 + token shift -> plane 0; hidden = relu(K·x)²; x += V·hidden.
            _kernels.ChannelMixInput(_stream, rowConfig, new TokenShiftArgs
            {
                X = Flat(_x),
                LnWeight = _weights.Vector(lw.Ln2, d),
                LnBias = _weights.Vector(lw.Ln2 + d, d),
                Mix = _weights.Vector(lw.ChannelMix, d),
                State = states,
                ShiftOffset = stateBase + d,
                SessionStride = state.SessionStride,
                Out = Flat(_mix),
                PlaneStride = _planeStride,
                Rows = rows,
                RunLength = runLength,
            });

            _kernels.MatMulD(_stream, MatMulConfig(s.Ffn, pr.LanesPerRow), Product(lw.FfnKey, Flat(_mix), d, Flat(_hidden), s.Ffn, rows, s.Ffn, Epilogue.ReluSquared));
            _kernels.MatMulF(_stream, MatMulConfig(d, pr.LanesPerRow), Product(lw.FfnValue, Flat(_hidden), s.Ffn, Flat(_x), d, rows, d, Epilogue.Accumulate));
        }

        if (!wantLogits)
        {
            return;
        }

        int outRows = allRows ? rows : runs;
        _kernels.FinalNorm(_stream, new KernelConfig(outRows, pr.RowThreads), new FinalNormArgs
        {
            X = Flat(_x),
            LnWeight = _weights.Vector(_weights.LnOut, d),
            LnBias = _weights.Vector(_weights.LnOut + d, d),
            Out = Flat(_normed),
            Rows = outRows,
            RunLength = runLength,
            AllRows = allRows ? 1 : 0,
        });
        _kernels.MatMulD(_stream, MatMulConfig(s.Vocab, pr.LanesPerRow), Product(_weights.HeadOffset, Flat(_normed), d, Flat(_logits), s.Vocab, outRows, s.Vocab, Epilogue.Store));
    }

    private MatMulArgs Product(long weightOffset, ArrayView<float> x, int xStride, ArrayView<float> y, int yStride, int tokens, int outRows, int epilogue) => new()
    {
        W = _weights.Matrix(weightOffset),
        X = x,
        XStride = xStride,
        XPlaneStride = 0,
        Y = y,
        YStride = yStride,
        VFirst = Flat(_vFirst),
        StoreVFirst = 0,
        Tokens = tokens,
        OutRows = outRows,
        Epilogue = epilogue,
        LanesPerRow = Profile.LanesPerRow,
    };

    private KernelConfig MatMulConfig(int outRows, int lanes)
    {
        int rowsPerGroup = Profile.MatMulThreads / lanes;
        return new KernelConfig((outRows + rowsPerGroup - 1) / rowsPerGroup, Profile.MatMulThreads);
    }

    private static ArrayView<T> Flat<T>(MemoryBuffer1D<T, Stride1D.Dense> buffer)
        where T : unmanaged => buffer.View;

    private void UploadTokens(ReadOnlySpan<int> tokens) => Flat(_tokens).SubView(0, tokens.Length).CopyFromCPU(tokens);

    private void CheckState(GpuState state, int session, int count)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Shape.Layers != Shape.Layers || state.Shape.Embedding != Shape.Embedding || state.Shape.HeadSize != Shape.HeadSize)
        {
            throw new ArgumentException($"State of shape {state.Shape} does not fit model {Shape}.", nameof(state));
        }

        if (state.Accelerator != Accelerator)
        {
            throw new ArgumentException("The state lives on another accelerator.", nameof(state));
        }

        if (session < 0 || session + count > state.Sessions)
        {
            throw new ArgumentOutOfRangeException(nameof(session), session, $"The state holds {state.Sessions} session(s).");
        }
    }

    private void CheckTokens(ReadOnlySpan<int> tokens)
    {
        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)Shape.Vocab)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), t, $"Token ids must lie in [0, {Shape.Vocab}).");
            }
        }
    }

    private void CheckLogits(Span<float> logits, int rows)
    {
        if (!logits.IsEmpty && logits.Length != rows * Shape.Vocab)
        {
            throw new ArgumentException($"Expected {rows * Shape.Vocab} logits (or an empty span), got {logits.Length}.", nameof(logits));
        }
    }
}
