using System.Diagnostics;
using Rwkv7.Serving.Metrics;
using Rwkv7.Gen;
using Rwkv7.Gen.Text;

namespace Rwkv7.Serving.Engine;

/// <summary>
/// Continuous batching on one model: every request that is generating advances one token per decode step, all
/// of them in one <see cref="RwkvModel.ForwardBatch"/> call; new requests join between two steps, after their prompt
/// has been prefilled in chunks interleaved with the steps, and finished or abandoned ones leave at once.
/// </summary>
/// <remarks>
/// <para>One thread owns the model, the states and the cache. Each iteration: drop cancelled requests; admit queued
/// ones while there are free slots (restoring the longest cached prefix of each prompt); prefill at most
/// <see cref="ServeOptions.PrefillChunkTokens"/> prompt tokens (whole chunks, in arrival order, so a long prompt delays
/// the batch by one chunk per step); then one decode step for every request that has a token to feed.</para>
/// <para>A prompt is always cut into chunks at the same offsets (multiples of the chunk size from where its prefill
/// starts), whatever else is running, and with <see cref="ServeOptions.BatchInvariant"/> a seeded request's text does
/// not depend on the other requests: the decode rows are padded to whole tiles, unless the engine's batch rows already
/// equal its one-token steps (<see cref="RwkvModel.BatchRowsMatchForward"/>: 4-bit weights), which need no padding.</para>
/// <para>Faults stay with their request: NaN logits or a failed prefill fail that request alone. An exception from a
/// batched step fails the requests of that step, whose states it may have changed part-way, and the scheduler goes on.</para>
/// </remarks>
internal sealed class BatchScheduler : IDisposable
{
    private readonly RwkvModel _model;
    private readonly RwkvTokenizer _tokenizer;
    private readonly ServeOptions _options;
    private readonly StateCache? _cache;
    private readonly ServeMetrics _metrics;
    private readonly Lock _gate = new();
    private readonly Queue<GenerationRequest> _queue = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly List<ActiveRequest> _active = [];
    private readonly Stack<RwkvState> _freeStates = new();
    private readonly RwkvState[] _padding;

    /// <summary>Whether decode steps are padded to whole tiles (batch invariance on, and an engine that needs it).</summary>
    private readonly bool _pads;
    private readonly float[] _prefillLogits;
    private readonly Thread _thread;
    private float[] _batchLogits = [];
    private volatile bool _stopping;
    private int _activeCount;

    public BatchScheduler(RwkvModel model, RwkvTokenizer tokenizer, ServeOptions options, StateCache? cache, ServeMetrics metrics)
    {
        _model = model;
        _tokenizer = tokenizer;
        _options = options;
        _cache = cache;
        _metrics = metrics;
        _prefillLogits = new float[model.Shape.Vocab];
        _pads = options.BatchInvariant && !model.BatchRowsMatchForward;
        _padding = _pads
            ? [.. Enumerable.Range(0, BatchInvariance.TileTokens - 1).Select(_ => model.CreateState())]
            : [];
        _thread = new Thread(Run) { IsBackground = true, Name = "rwkv7 batch scheduler" };
        _thread.Start();
    }

    /// <summary>Requests waiting for a slot.</summary>
    public int QueueDepth
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Requests holding a slot (prefilling or decoding).</summary>
    public int ActiveCount => Volatile.Read(ref _activeCount);

    /// <summary>
    /// Queues <paramref name="request"/>; false when the queue is full (the caller answers 429). After
    /// <see cref="Stop"/>, requests are failed with <see cref="FailureKind.Shutdown"/> at once.
    /// </summary>
    public bool TryEnqueue(GenerationRequest request)
    {
        lock (_gate)
        {
            if (_stopping)
            {
                request.Emit(new GenerationEvent.Failed(FailureKind.Shutdown, "the server is shutting down"));
                request.Close();
                return true;
            }

            if (_queue.Count >= _options.MaxQueue)
            {
                return false;
            }

            _queue.Enqueue(request);
        }

        _wake.Release();
        return true;
    }

    /// <summary>Wakes the scheduler (a request was cancelled).</summary>
    public void Nudge() => _wake.Release();

    /// <summary>Fails every queued and running request with <see cref="FailureKind.Shutdown"/> and stops the thread.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            _stopping = true;
        }

        _wake.Release();
        _thread.Join();
    }

    public void Dispose()
    {
        if (!_stopping)
        {
            Stop();
        }

        _wake.Dispose();
    }

    private void Run()
    {
        while (true)
        {
            if (_active.Count == 0)
            {
                _wake.Wait();
            }

            if (_stopping)
            {
                Shutdown();
                return;
            }

            DropCancelled();
            Admit();
            Prefill();
            DecodeStep();
            Release();
        }
    }

    private void Shutdown()
    {
        List<GenerationRequest> queued;
        lock (_gate)
        {
            queued = [.. _queue];
            _queue.Clear();
        }

        foreach (GenerationRequest request in queued)
        {
            request.Emit(new GenerationEvent.Failed(FailureKind.Shutdown, "the server is shutting down"));
            request.Close();
        }

        foreach (ActiveRequest a in _active.Where(a => a.Phase is RequestPhase.Prefill or RequestPhase.Decode))
        {
            a.Fail(FailureKind.Shutdown, "the server is shutting down");
        }

        _active.Clear();
        Volatile.Write(ref _activeCount, 0);
    }

    private void DropCancelled()
    {
        foreach (ActiveRequest a in _active)
        {
            if (a.Request.IsCancelled && a.Phase is RequestPhase.Prefill or RequestPhase.Decode)
            {
                a.Drop();
                _metrics.Cancelled();
            }
        }
    }

    /// <summary>Moves queued requests into free slots and restores each one's longest cached prefix.</summary>
    private void Admit()
    {
        while (_active.Count < _options.MaxBatch)
        {
            GenerationRequest? request;
            lock (_gate)
            {
                if (!_queue.TryDequeue(out request))
                {
                    break;
                }
            }

            if (request.IsCancelled)
            {
                request.Close();
                _metrics.Cancelled();
                continue;
            }

            var active = new ActiveRequest(request, RentState(), _tokenizer, _model.Shape.Vocab);
            _active.Add(active);
            int covered = _cache?.TryRestore(request.Prompt, active.State, _prefillLogits) ?? 0;
            active.PrefillPosition = active.CachedTokens = covered;
            if (covered == request.Prompt.Length)
            {
                // The whole prompt was cached, logits included: the first token can be drawn now.
                AdvanceFromPrefill(active, _prefillLogits);
            }
        }

        Volatile.Write(ref _activeCount, _active.Count);
    }

    /// <summary>Feeds whole prompt chunks, in arrival order, until this iteration's token budget is spent.</summary>
    private void Prefill()
    {
        int chunkTokens = _options.PrefillChunkTokens, spent = 0;
        foreach (ActiveRequest a in _active)
        {
            if (a.Phase != RequestPhase.Prefill)
            {
                continue;
            }

            // Chunks start at fixed offsets from where this prompt's prefill began, so their bounds never depend on
            // the other requests; a chunk that does not fit the rest of the budget waits for the next iteration.
            int offset = a.PrefillPosition - a.CachedTokens;
            int chunk = Math.Min(chunkTokens - (offset % chunkTokens), a.PrefillRemaining);
            if (spent > 0 && spent + chunk > chunkTokens)
            {
                break;
            }

            bool last = chunk == a.PrefillRemaining;
            try
            {
                _model.Forward(a.Request.Prompt.AsSpan(a.PrefillPosition, chunk), a.State, last ? _prefillLogits : []);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                a.Fail(FailureKind.Engine, $"the engine failed while reading the prompt: {e.Message}");
                continue;
            }

            spent += chunk;
            a.PrefillPosition += chunk;
            _metrics.Prefilled(chunk);
            if (last)
            {
                _cache?.Store(a.Request.Prompt, a.State, _prefillLogits);
                AdvanceFromPrefill(a, _prefillLogits);
            }
        }
    }

    private void AdvanceFromPrefill(ActiveRequest a, ReadOnlySpan<float> logits)
    {
        Advance(a, logits);
        if (a.FirstTokenTimestamp != 0)
        {
            _metrics.FirstToken(Stopwatch.GetElapsedTime(a.Request.AcceptedTimestamp, a.FirstTokenTimestamp));
        }
    }

    /// <summary>One <see cref="RwkvModel.ForwardBatch"/> for every request with a token to feed, then a draw for each.</summary>
    private void DecodeStep()
    {
        var rows = new List<ActiveRequest>(_active.Count);
        foreach (ActiveRequest a in _active)
        {
            if (a.Phase is RequestPhase.Decode or RequestPhase.Flush)
            {
                rows.Add(a);
            }
        }

        if (rows.Count == 0)
        {
            return;
        }

        int count = _pads ? BatchInvariance.PaddedRows(rows.Count) : rows.Count;
        int v = _model.Shape.Vocab;
        int[] tokens = new int[count];
        var states = new RwkvState[count];
        for (int b = 0; b < count; b++)
        {
            if (b < rows.Count)
            {
                tokens[b] = rows[b].PendingToken;
                states[b] = rows[b].State;
            }
            else
            {
                // Padding rows: throwaway sessions fed token 0 from the zero state, whose results nobody reads.
                states[b] = _padding[b - rows.Count];
                states[b].Reset();
            }
        }

        if (_batchLogits.Length < count * v)
        {
            _batchLogits = new float[count * v];
        }

        Span<float> logits = _batchLogits.AsSpan(0, count * v);
        long start = Stopwatch.GetTimestamp();
        try
        {
            _model.ForwardBatch(tokens, states, logits);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            foreach (ActiveRequest a in rows)
            {
                if (a.Phase == RequestPhase.Decode)
                {
                    a.Fail(FailureKind.Engine, $"the engine failed during a batch step: {e.Message}");
                }
                else
                {
                    a.Phase = RequestPhase.Done;
                }
            }

            return;
        }

        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        _metrics.DecodeStep(rows.Count, count, elapsed);
        for (int b = 0; b < rows.Count; b++)
        {
            ActiveRequest a = rows[b];
            ReadOnlySpan<float> row = logits.Slice(b * v, v);
            if (a.Phase == RequestPhase.Flush)
            {
                StoreReply(a, row);
                a.Phase = RequestPhase.Done;
            }
            else if (a.Request.IsCancelled)
            {
                a.Drop();
                _metrics.Cancelled();
            }
            else
            {
                Advance(a, row);
            }
        }
    }

    /// <summary>Draws the request's next token; a finished request's state is cached now or after its flush step.</summary>
    private void Advance(ActiveRequest a, ReadOnlySpan<float> logits)
    {
        try
        {
            if (a.Advance(logits))
            {
                return;
            }
        }
        catch (Exception e) when (e is RwkvException or InvalidOperationException)
        {
            a.Fail(FailureKind.Engine, e.Message);
            return;
        }

        _metrics.Generated(a.Outcome!.Tokens.Count);
        if (a.StateComplete)
        {
            StoreReply(a, logits);
        }
        else if (_cache is null)
        {
            a.Phase = RequestPhase.Done; // nothing would keep the state after the last token: no flush step
        }
    }

    private void StoreReply(ActiveRequest a, ReadOnlySpan<float> logits)
    {
        if (_cache is null || a.Outcome is not { } outcome || a.Request.ReplyCacheKey?.Invoke(outcome) is not { } entry)
        {
            return;
        }

        if (entry.Closing.Length > 0)
        {
            try
            {
                _model.Forward(entry.Closing, a.State, _prefillLogits);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return; // the reply was answered already; only its cache entry is lost
            }

            logits = _prefillLogits;
        }

        _cache.Store(entry.Key, a.State, logits);
    }

    /// <summary>Frees the slots of finished requests.</summary>
    private void Release()
    {
        for (int i = _active.Count - 1; i >= 0; i--)
        {
            if (_active[i].Phase == RequestPhase.Done)
            {
                _freeStates.Push(_active[i].State);
                _active.RemoveAt(i);
            }
        }

        Volatile.Write(ref _activeCount, _active.Count);
    }

    private RwkvState RentState()
    {
        if (_freeStates.TryPop(out RwkvState? state))
        {
            state.Reset();
            return state;
        }

        return _model.CreateState();
    }
}
