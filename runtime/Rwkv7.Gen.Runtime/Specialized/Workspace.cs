namespace Rwkv7.Gen.Specialized;

/// <summary>
/// Activation buffers for a block of up to <see cref="Tokens"/> tokens, reused across calls so that decoding
/// allocates nothing in steady state. Each buffer is [Tokens][width], row-major.
/// </summary>
internal sealed class Workspace
{
    public Workspace(ModelShape shape, int tokens)
    {
        Tokens = tokens;
        int d = shape.Embedding;
        int block = tokens * d;
        X = new float[block];
        H = new float[block];
        XR = new float[block];
        XW = new float[block];
        XK = new float[block];
        XV = new float[block];
        XA = new float[block];
        XG = new float[block];
        R = new float[block];
        K = new float[block];
        V = new float[block];
        W = new float[block];
        A = new float[block];
        G = new float[block];
        KK = new float[block];
        Y = new float[block];
        VFirst = new float[block];
        Hidden = new float[tokens * shape.Ffn];
        VMix = new float[block];
        int maxRank = Math.Max(Math.Max(shape.DecayRank, shape.IclrRank), Math.Max(shape.ValueRank, shape.GateRank));
        LoraScratch = new float[LoraCount][];
        for (int i = 0; i < LoraCount; i++)
        {
            LoraScratch[i] = new float[tokens * maxRank];
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
    public float[] X { get; }

    /// <summary>LayerNorm output (ln1, ln2 or ln_out), kept for the next token's token shift.</summary>
    public float[] H { get; }

    public float[] XR { get; }

    public float[] XW { get; }

    public float[] XK { get; }

    public float[] XV { get; }

    public float[] XA { get; }

    public float[] XG { get; }

    public float[] R { get; }

    public float[] K { get; }

    public float[] V { get; }

    public float[] W { get; }

    public float[] A { get; }

    public float[] G { get; }

    public float[] KK { get; }

    public float[] Y { get; }

    /// <summary>Layer 0's values, mixed into later layers' values (value residual).</summary>
    public float[] VFirst { get; }

    /// <summary>Channel-mix hidden layer, [Tokens][FFN].</summary>
    public float[] Hidden { get; }

    /// <summary>Value-residual mix, [Tokens][D].</summary>
    public float[] VMix { get; }

    /// <summary>One hidden buffer per LoRA MLP, [Tokens][rank] each.</summary>
    public float[][] LoraScratch { get; }

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
