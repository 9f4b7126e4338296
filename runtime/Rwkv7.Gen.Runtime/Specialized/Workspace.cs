using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Activation buffers for a block of up to <see cref="Tokens"/> tokens, reused across calls so that decoding
/// allocates nothing in steady state. Each buffer is [Tokens][width], row-major.
/// </summary>
internal sealed class Workspace
{
    private readonly LineBuffer _x;
    private readonly LineBuffer _h;
    private readonly LineBuffer _xR;
    private readonly LineBuffer _xW;
    private readonly LineBuffer _xK;
    private readonly LineBuffer _xV;
    private readonly LineBuffer _xA;
    private readonly LineBuffer _xG;
    private readonly LineBuffer _r;
    private readonly LineBuffer _k;
    private readonly LineBuffer _v;
    private readonly LineBuffer _w;
    private readonly LineBuffer _a;
    private readonly LineBuffer _g;
    private readonly LineBuffer _kK;
    private readonly LineBuffer _y;
    private readonly LineBuffer _vFirst;
    private readonly LineBuffer _vMix;
    private readonly LineBuffer _hidden;
    private readonly LineBuffer[] _loraScratch;

    public Workspace(ModelShape shape, int tokens)
    {
        Tokens = tokens;
        int d = shape.Embedding;
        int block = tokens * d;
        _x = LineBuffer.Allocate(block);
        _h = LineBuffer.Allocate(block);
        _xR = LineBuffer.Allocate(block);
        _xW = LineBuffer.Allocate(block);
        _xK = LineBuffer.Allocate(block);
        _xV = LineBuffer.Allocate(block);
        _xA = LineBuffer.Allocate(block);
        _xG = LineBuffer.Allocate(block);
        _r = LineBuffer.Allocate(block);
        _k = LineBuffer.Allocate(block);
        _v = LineBuffer.Allocate(block);
        _w = LineBuffer.Allocate(block);
        _a = LineBuffer.Allocate(block);
        _g = LineBuffer.Allocate(block);
        _kK = LineBuffer.Allocate(block);
        _y = LineBuffer.Allocate(block);
        _vFirst = LineBuffer.Allocate(block);
        _hidden = LineBuffer.Allocate(tokens * shape.Ffn);
        _vMix = LineBuffer.Allocate(block);
        int maxRank = Math.Max(Math.Max(shape.DecayRank, shape.IclrRank), Math.Max(shape.ValueRank, shape.GateRank));
        _loraScratch = new LineBuffer[LoraCount];
        for (int i = 0; i < LoraCount; i++)
        {
            _loraScratch[i] = LineBuffer.Allocate(tokens * maxRank);
        }

        int widest = Math.Max(d, shape.Ffn);
        Int16Inputs = new Int16Input[Int16InputCount];
        for (int i = 0; i < Int16InputCount; i++)
        {
            Int16Inputs[i] = new Int16Input(widest, tokens: 1, maxTokens: tokens);
        }

        States = new RwkvState[tokens];
        Step = new StepContext(this);
    }

    /// <summary>One-token inputs rounded to 16 bits at once: r, k and v's.</summary>
    public const int Int16InputCount = 3;

    /// <summary>The four LoRA MLPs, which may run at the same time on different threads.</summary>
    public const int LoraCount = 4;

    public int Tokens { get; }

    /// <summary>Residual stream.</summary>
    public Span<float> X => _x.Span;

    /// <summary>LayerNorm output (ln1, ln2 or ln_out), kept for the next token's token shift.</summary>
    public Span<float> H => _h.Span;

    public Span<float> XR => _xR.Span;

    public Span<float> XW => _xW.Span;

    public Span<float> XK => _xK.Span;

    public Span<float> XV => _xV.Span;

    public Span<float> XA => _xA.Span;

    public Span<float> XG => _xG.Span;

    public Span<float> R => _r.Span;

    public Span<float> K => _k.Span;

    public Span<float> V => _v.Span;

    public Span<float> W => _w.Span;

    public Span<float> A => _a.Span;

    public Span<float> G => _g.Span;

    public Span<float> KK => _kK.Span;

    public Span<float> Y => _y.Span;

    /// <summary>Layer 0's values, mixed into later layers' values (value residual).</summary>
    public Span<float> VFirst => _vFirst.Span;

    /// <summary>Channel-mix hidden layer, [Tokens][FFN].</summary>
    public Span<float> Hidden => _hidden.Span;

    /// <summary>Value-residual mix, [Tokens][D].</summary>
    public Span<float> VMix => _vMix.Span;

    /// <summary>LoRA MLP <paramref name="lora"/>'s hidden buffer, [Tokens][rank] (one each: they may run at once).</summary>
    public Span<float> LoraScratch(int lora) => _loraScratch[lora].Span;

    /// <summary>
    /// Inputs of 8- and 4-bit products rounded to 16 bits (<see cref="Int16Input"/>), up to D or FFN each, for one token
    /// (grown to a block's rows at a workspace's first batch of 4-bit products):
    /// each: the receptance, key and value inputs in the projections step, slot 0 in the others.
    /// </summary>
    public Int16Input[] Int16Inputs { get; }

    /// <summary>The state each row belongs to (all the same in sequence mode, one per session in batch mode).</summary>
    public RwkvState[] States { get; }

    /// <summary>Parameters of the parallel step in flight (set by the forward pass before each step).</summary>
    public StepContext Step { get; }
}

/// <summary>
/// A pinned float buffer that starts on a 64-byte line. The generated tiles load a block's activations a vector at a
/// time for every token and step; at a managed array's own alignment most of those loads straddle two lines. Aligned,
/// bf16 prefill over 512 and the batch of 16 ran 2-3% faster in most same-minute pairs on Zen 5 (docs/benchmarks.md,
/// change 54; the 16-bit inputs of 4-bit products gained far more, change 53).
/// </summary>
internal readonly struct LineBuffer
{
    private const int Line = 64;
    private readonly float[] _array;
    private readonly int _start, _length;

    private LineBuffer(float[] array, int start, int length)
    {
        _array = array;
        _start = start;
        _length = length;
    }

    public Span<float> Span => _array.AsSpan(_start, _length);

    public static unsafe LineBuffer Allocate(int length)
    {
        float[] array = GC.AllocateArray<float>(length + (Line / sizeof(float)), pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        return new LineBuffer(array, (int)((Line - (address & (Line - 1))) & (Line - 1)) / sizeof(float), length);
    }
}

/// <summary>A small lock-protected pool of workspaces (one per concurrent caller).</summary>
internal sealed class WorkspacePool(ModelShape shape, int tokens)
{
    private readonly Stack<Workspace> _free = new();

    public Workspace Rent()
    {
        lock (_free)
        {
            if (_free.TryPop(out Workspace? ws))
            {
                return ws;
            }
        }

        return new Workspace(shape, tokens);
    }

    public void Return(Workspace workspace)
    {
        lock (_free)
        {
            _free.Push(workspace);
        }
    }
}
