using Rwkv7.Gen.Platform;

namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Activation buffers for a block of up to <see cref="Tokens"/> tokens, reused across calls so that decoding
/// allocates nothing in steady state. Each buffer is [Tokens][width], row-major.
/// </summary>
internal sealed class Workspace
{
    private readonly LineBuffer<float> _x;
    private readonly LineBuffer<float> _h;
    private readonly LineBuffer<float> _xR;
    private readonly LineBuffer<float> _xW;
    private readonly LineBuffer<float> _xK;
    private readonly LineBuffer<float> _xV;
    private readonly LineBuffer<float> _xA;
    private readonly LineBuffer<float> _xG;
    private readonly LineBuffer<float> _r;
    private readonly LineBuffer<float> _k;
    private readonly LineBuffer<float> _v;
    private readonly LineBuffer<float> _w;
    private readonly LineBuffer<float> _a;
    private readonly LineBuffer<float> _g;
    private readonly LineBuffer<float> _kK;
    private readonly LineBuffer<float> _y;
    private readonly LineBuffer<float> _vFirst;
    private readonly LineBuffer<float> _vMix;
    private readonly LineBuffer<float> _hidden;
    private readonly LineBuffer<float>[] _loraScratch;

    public Workspace(ModelShape shape, int tokens)
    {
        Tokens = tokens;
        int d = shape.Embedding;
        int block = tokens * d;
        _x = LineBuffer<float>.Allocate(block);
        _h = LineBuffer<float>.Allocate(block);
        _xR = LineBuffer<float>.Allocate(block);
        _xW = LineBuffer<float>.Allocate(block);
        _xK = LineBuffer<float>.Allocate(block);
        _xV = LineBuffer<float>.Allocate(block);
        _xA = LineBuffer<float>.Allocate(block);
        _xG = LineBuffer<float>.Allocate(block);
        _r = LineBuffer<float>.Allocate(block);
        _k = LineBuffer<float>.Allocate(block);
        _v = LineBuffer<float>.Allocate(block);
        _w = LineBuffer<float>.Allocate(block);
        _a = LineBuffer<float>.Allocate(block);
        _g = LineBuffer<float>.Allocate(block);
        _kK = LineBuffer<float>.Allocate(block);
        _y = LineBuffer<float>.Allocate(block);
        _vFirst = LineBuffer<float>.Allocate(block);
        _hidden = LineBuffer<float>.Allocate(tokens * shape.Ffn);
        _vMix = LineBuffer<float>.Allocate(block);
        int maxRank = Math.Max(Math.Max(shape.DecayRank, shape.IclrRank), Math.Max(shape.ValueRank, shape.GateRank));
        _loraScratch = new LineBuffer<float>[LoraCount];
        for (int i = 0; i < LoraCount; i++)
        {
            _loraScratch[i] = LineBuffer<float>.Allocate(tokens * maxRank);
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
