using System.Diagnostics;
using System.Text;
using Rwkv7.Gen;
using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.Sessions;
using Rwkv7.Gen.Text;

namespace Rwkv7.Serving.Engine;

/// <summary>Where a request is in the scheduler.</summary>
internal enum RequestPhase
{
    /// <summary>Its prompt is being fed, a chunk per iteration.</summary>
    Prefill,

    /// <summary>It has a drawn token to feed at the next decode step.</summary>
    Decode,

    /// <summary>Finished and answered; its last token is fed at the next step so the state after the reply can be cached.</summary>
    Flush,

    /// <summary>Done: its slot is free.</summary>
    Done,
}

/// <summary>
/// A request holding a batch slot: its state, sampler, stop matching and the text produced. Used by the scheduler's
/// thread only.
/// </summary>
internal sealed class ActiveRequest
{
    private readonly RwkvTokenizer _tokenizer;
    private readonly Sampler _sampler;
    private readonly StopSequenceMatcher _stops;
    private readonly Utf8StreamDecoder _decoder = new();
    private readonly StringBuilder _decoded = new();
    private readonly StringBuilder _piece = new();
    private readonly StringBuilder _text = new();
    private readonly List<int> _tokens = [];

    public ActiveRequest(GenerationRequest request, RwkvState state, RwkvTokenizer tokenizer, int vocab)
    {
        Request = request;
        State = state;
        _tokenizer = tokenizer;
        _sampler = new Sampler(vocab, request.Sampling);
        for (int id = tokenizer.VocabularySize; id < vocab; id++)
        {
            _sampler.Ban(id); // logits the tokenizer cannot decode
        }

        _stops = new StopSequenceMatcher(request.StopSequences);
    }

    public GenerationRequest Request { get; }

    /// <summary>The request's state (from the scheduler's pool).</summary>
    public RwkvState State { get; }

    public RequestPhase Phase { get; set; } = RequestPhase.Prefill;

    /// <summary>Prompt tokens fed so far (or restored from the cache).</summary>
    public int PrefillPosition { get; set; }

    /// <summary>Prompt tokens restored from the cache.</summary>
    public int CachedTokens { get; set; }

    /// <summary>The token to feed at the next step (phases Decode and Flush).</summary>
    public int PendingToken { get; private set; }

    /// <summary>When the first token was drawn, or 0.</summary>
    public long FirstTokenTimestamp { get; private set; }

    /// <summary>The outcome once finished (kept for the reply's cache key).</summary>
    public GenerationOutcome? Outcome { get; private set; }

    /// <summary>Prompt tokens still to feed.</summary>
    public int PrefillRemaining => Request.Prompt.Length - PrefillPosition;

    /// <summary>
    /// Draws the next token from <paramref name="logits"/> and sends the text it completes. Returns false when the
    /// generation ended (the outcome is then sent and <see cref="Phase"/> set), true when a token waits to be fed.
    /// </summary>
    /// <exception cref="RwkvException">The logits hold NaN.</exception>
    public bool Advance(ReadOnlySpan<float> logits)
    {
        int token = _sampler.Sample(logits);
        if (FirstTokenTimestamp == 0)
        {
            FirstTokenTimestamp = Stopwatch.GetTimestamp();
        }

        if (Request.StopAtEndOfText && token == _tokenizer.EndOfTextId)
        {
            _stops.Flush(_piece);
            return Finish(FinishReason.Stop, fed: true);
        }

        _sampler.Accept(token);
        _tokens.Add(token);
        PendingToken = token;
        _decoded.Clear();
        _decoder.Append(_tokenizer.GetTokenBytes(token), _decoded);
        bool stopped = false;
        foreach (ReadOnlyMemory<char> chunk in _decoded.GetChunks())
        {
            if (_stops.Push(chunk.Span, _piece))
            {
                stopped = true;
                break;
            }
        }

        if (stopped)
        {
            return Finish(FinishReason.Stop, fed: false);
        }

        if (_tokens.Count >= Request.MaxTokens)
        {
            // A character the model left unfinished ends as U+FFFD rather than vanishing.
            _decoded.Clear();
            _decoder.Flush(_decoded);
            foreach (ReadOnlyMemory<char> chunk in _decoded.GetChunks())
            {
                if (_stops.Push(chunk.Span, _piece))
                {
                    return Finish(FinishReason.Stop, fed: false);
                }
            }

            _stops.Flush(_piece);
            return Finish(FinishReason.Length, fed: false);
        }

        SendPiece();
        Phase = RequestPhase.Decode;
        return true;
    }

    /// <summary>Ends the request with a failure (its text so far stays sent).</summary>
    public void Fail(FailureKind kind, string message)
    {
        Request.Emit(new GenerationEvent.Failed(kind, message));
        Request.Close();
        Phase = RequestPhase.Done;
    }

    /// <summary>Ends a request whose client left: nothing more is sent.</summary>
    public void Drop()
    {
        Request.Close();
        Phase = RequestPhase.Done;
    }

    /// <summary>
    /// Sends what is left and the outcome. <paramref name="fed"/> says whether the state already holds every
    /// generated token (a stop token is never fed); otherwise the last one waits in <see cref="PendingToken"/>.
    /// </summary>
    private bool Finish(FinishReason reason, bool fed)
    {
        SendPiece();
        Outcome = new GenerationOutcome(_text.ToString(), _tokens.ToArray(), reason, Request.Prompt.Length, CachedTokens, _stops.Matched);
        Request.Emit(new GenerationEvent.Completed(Outcome));
        Request.Close();
        Phase = fed ? RequestPhase.Done : RequestPhase.Flush;
        StateComplete = fed;
        return false;
    }

    /// <summary>Whether, once finished, the state holds every generated token (ready to cache without a flush step).</summary>
    public bool StateComplete { get; private set; }

    private void SendPiece()
    {
        if (_piece.Length == 0)
        {
            return;
        }

        string piece = _piece.ToString();
        _piece.Clear();
        _text.Append(piece);
        Request.Emit(new GenerationEvent.Text(piece));
    }
}
