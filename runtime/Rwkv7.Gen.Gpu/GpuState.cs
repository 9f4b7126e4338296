using ILGPU;
using ILGPU.Runtime;

namespace Rwkv7.Gen.Gpu;

/// <summary>
/// The recurrent state of one or more sessions, kept on the device. Each session's block has exactly the layout of
/// <see cref="RwkvState.Data"/> (per layer att_x[D], ffn_x[D], wkv[H][j key][i value]), so a session moves between the
/// CPU engines and the GPU with one copy in either direction (<see cref="Upload"/>, <see cref="Download"/>).
/// </summary>
public sealed class GpuState : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _buffer;

    internal GpuState(Accelerator accelerator, ModelShape shape, int sessions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sessions, 1);
        Shape = shape;
        Sessions = sessions;
        SessionStride = (long)shape.StateFloatsPerLayer * shape.Layers;
        _buffer = accelerator.Allocate1D<float>(SessionStride * sessions);
        _buffer.MemSetToZero();
        accelerator.Synchronize();
    }

    /// <summary>The shape the state belongs to.</summary>
    public ModelShape Shape { get; }

    /// <summary>Number of sessions (state slots).</summary>
    public int Sessions { get; }

    /// <summary>Floats per session.</summary>
    public long SessionStride { get; }

    internal ArrayView<float> View => _buffer.View;

    internal Accelerator Accelerator => _buffer.Accelerator;

    /// <summary>Copies a CPU state into session <paramref name="session"/>.</summary>
    public void Upload(int session, RwkvState state)
    {
        Check(session, state);
        Slot(session).CopyFromCPU(state.Data);
    }

    /// <summary>Copies session <paramref name="session"/> into a CPU state.</summary>
    public void Download(int session, RwkvState state)
    {
        Check(session, state);
        Slot(session).CopyToCPU(state.Data);
    }

    /// <summary>Zeroes every session.</summary>
    public void Reset()
    {
        _buffer.MemSetToZero();
        _buffer.Accelerator.Synchronize();
    }

    /// <summary>Zeroes one session.</summary>
    public void Reset(int session)
    {
        CheckSession(session);
        Slot(session).MemSetToZero();
        _buffer.Accelerator.Synchronize();
    }

    /// <inheritdoc />
    public void Dispose() => _buffer.Dispose();

    private ArrayView<float> Slot(int session) => View.SubView(session * SessionStride, SessionStride);

    private void CheckSession(int session)
    {
        if ((uint)session >= (uint)Sessions)
        {
            throw new ArgumentOutOfRangeException(nameof(session), session, $"The state holds {Sessions} session(s).");
        }
    }

    private void Check(int session, RwkvState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        CheckSession(session);
        if (!state.IsCompatible(Shape) || state.Data.Length != SessionStride)
        {
            throw new ArgumentException($"State of shape {state.Shape} does not fit {Shape}.", nameof(state));
        }
    }
}
