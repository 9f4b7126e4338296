using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;
using Rwkv7.Gen.Sampling;
using Rwkv7.Gen.StateFiles;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Sessions;

/// <summary>
/// One sequence being read and written: a model, a tokenizer, and the state that holds everything fed so far.
/// Append text (prefill, in sequence mode), generate from it, append more, generate again; fork it to explore two
/// continuations; save it and resume later.
/// </summary>
/// <remarks>
/// <para>Invariant: <see cref="State"/> has consumed every appended and generated token, and <see cref="Logits"/>
/// predicts the next one. Each generated token is fed as soon as it is drawn, so a generation can stop anywhere and
/// the session is ready to continue.</para>
/// <para>A session is used by one caller at a time; a second generation while one runs is refused. Many sessions
/// can share one model and one <see cref="PromptCache"/>.</para>
/// </remarks>
public sealed class RwkvSession
{
    /// <summary>Prompts are fed to the model in chunks of this many tokens, bounding the engine's scratch memory.</summary>
    public const int PrefillChunkTokens = 256;

    private readonly float[] _logits;
    private readonly Utf8StreamDecoder _decoder;
    private List<int>? _history;  // every token consumed since the zero state; null when unknown (after LoadState)
    private bool _hasLogits;
    private Sampler? _sampler;
    private int _busy;

    /// <summary>Starts a session at the zero state.</summary>
    /// <param name="model">The model (shared, not owned).</param>
    /// <param name="tokenizer">Its tokenizer; its ids must fit the model's vocabulary.</param>
    /// <param name="cache">Optional prompt cache for <paramref name="model"/>.</param>
    public RwkvSession(RwkvModel model, RwkvTokenizer tokenizer, PromptCache? cache = null)
        : this(model, tokenizer, cache, NewState(model, tokenizer), new float[model.Shape.Vocab], hasLogits: false, history: [], new Utf8StreamDecoder())
    {
    }

    private RwkvSession(
        RwkvModel model, RwkvTokenizer tokenizer, PromptCache? cache, RwkvState state, float[] logits, bool hasLogits, List<int>? history, Utf8StreamDecoder decoder)
    {
        if (cache is not null && !ReferenceEquals(cache.Model, model))
        {
            throw new ArgumentException("The prompt cache belongs to another model.", nameof(cache));
        }

        Model = model;
        Tokenizer = tokenizer;
        Cache = cache;
        State = state;
        _logits = logits;
        _hasLogits = hasLogits;
        _history = history;
        _decoder = decoder;
    }

    /// <summary>The model.</summary>
    public RwkvModel Model { get; }

    /// <summary>The tokenizer.</summary>
    public RwkvTokenizer Tokenizer { get; }

    /// <summary>The prompt cache, if any.</summary>
    public PromptCache? Cache { get; }

    /// <summary>The recurrent state (owned by the session).</summary>
    public RwkvState State { get; }

    /// <summary>Whether there are logits to generate from (something was appended, or a state with logits loaded).</summary>
    public bool HasLogits => _hasLogits;

    /// <summary>The logits predicting the next token.</summary>
    /// <exception cref="InvalidOperationException">Nothing has been fed yet.</exception>
    public ReadOnlySpan<float> Logits => _hasLogits ? _logits : throw new InvalidOperationException("Nothing has been fed to the session yet.");

    /// <summary>Tokens consumed since the zero state, or null when unknown (after <see cref="LoadState"/>).</summary>
    public IReadOnlyList<int>? History => _history;

    /// <summary>Tokens this session ran through the model itself (snapshots restored from the cache excluded).</summary>
    public long ForwardedTokenCount { get; private set; }

    /// <summary>The outcome of the last finished generation, streaming or not.</summary>
    public GenerationResult? LastGeneration { get; private set; }

    /// <summary>Encodes <paramref name="text"/> and feeds it (prefill).</summary>
    /// <param name="text">Text to feed; it is tokenized on its own, as the official chat code does per message.</param>
    /// <param name="cacheable">Store the state after this text in <see cref="Cache"/> for later sessions.</param>
    /// <param name="cancellationToken">Checked between chunks of <see cref="PrefillChunkTokens"/> tokens.</param>
    /// <exception cref="OperationCanceledException">Cancelled; the chunks fed before are in the state and history.</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in the type of their first parameters: no call can bind to two of them.")]
    public void Append(string text, bool cacheable = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        Append(Tokenizer.EncodeToIdArray(text), cacheable, cancellationToken);
    }

    /// <summary>Feeds <paramref name="tokens"/> (prefill), restoring from <see cref="Cache"/> what it can.</summary>
    /// <inheritdoc cref="Append(string, bool, CancellationToken)"/>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in the type of their first parameters: no call can bind to two of them.")]
    public void Append(ReadOnlySpan<int> tokens, bool cacheable = false, CancellationToken cancellationToken = default)
    {
        Enter();
        try
        {
            foreach (int token in tokens)
            {
                if ((uint)token >= (uint)Model.Shape.Vocab)
                {
                    throw new ArgumentOutOfRangeException(nameof(tokens), token, $"Token ids must lie in [0, {Model.Shape.Vocab}).");
                }
            }

            _decoder.Reset(); // new input: a character the model left unfinished will not be finished
            int start = 0;
            if (Cache is not null && _history is not null && !tokens.IsEmpty)
            {
                start = Cache.TryRestore(_history, tokens, State, _logits);
                if (start > 0)
                {
                    _history.AddRange(tokens[..start]);
                    _hasLogits = true;
                }
            }

            Feed(tokens[start..], cancellationToken);
            if (cacheable && Cache is not null && _history is not null && _hasLogits)
            {
                Cache.Store(_history, State, _logits);
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Generates text until a stop condition; the session then continues from where it stopped.</summary>
    /// <exception cref="InvalidOperationException">Nothing was fed yet, or another generation is running.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; every token drawn before has been fed.</exception>
    public GenerationResult Generate(GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        Enter();
        try
        {
            Generation run = Begin(options);
            var text = new StringBuilder();
            while (run.Step(text, cancellationToken))
            {
            }

            return Finish(run, text);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Generates as <see cref="Generate"/> does, yielding text as it is produced. A piece never ends inside a
    /// character (characters split over tokens are held until complete) and never contains any part of a stop
    /// sequence. The work runs on the thread pool, not on the caller's thread.
    /// </summary>
    public async IAsyncEnumerable<string> GenerateStreamingAsync(
        GenerationOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Enter();
        try
        {
            Generation run = Begin(options);
            var all = new StringBuilder();
            var piece = new StringBuilder();
            bool more = true;
            while (more)
            {
                await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
                more = run.Step(piece, cancellationToken);
                if (piece.Length > 0)
                {
                    string text = piece.ToString();
                    piece.Clear();
                    all.Append(text);
                    yield return text;
                }
            }

            Finish(run, all);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>A new session that starts from a copy of this one (state, logits, history); the two then go their own ways.</summary>
    public RwkvSession Fork()
    {
        Enter();
        try
        {
            return new RwkvSession(Model, Tokenizer, Cache, State.Clone(), (float[])_logits.Clone(), _hasLogits, _history is null ? null : [.. _history], _decoder.Clone());
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Back to the zero state, with nothing fed.</summary>
    public void Reset()
    {
        Enter();
        try
        {
            State.Reset();
            _hasLogits = false;
            _history = [];
            _decoder.Reset();
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Saves the state and the current logits (see <see cref="RwkvStateFile"/>), atomically.</summary>
    public void SaveState(string path)
    {
        Enter();
        try
        {
            RwkvStateFile.Save(path, State, _hasLogits ? _logits : default);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Replaces the state (and logits, if the file has them) with a saved one. On any error the session is unchanged.
    /// Afterwards the history is unknown, so the prompt cache is no longer consulted until <see cref="Reset"/>.
    /// </summary>
    /// <exception cref="RwkvFormatException">The file is not a valid state for this model.</exception>
    public StateFileInfo LoadState(string path)
    {
        Enter();
        try
        {
            StateFileInfo info = RwkvStateFile.Load(path, State, _logits);
            _hasLogits = info.HasLogits;
            _history = null;
            _decoder.Reset();
            return info;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Runs tokens through the model in chunks; the logits after the last are kept.</summary>
    private void Feed(ReadOnlySpan<int> tokens, CancellationToken cancellationToken = default)
    {
        for (int start = 0; start < tokens.Length; start += PrefillChunkTokens)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ReadOnlySpan<int> chunk = tokens.Slice(start, Math.Min(PrefillChunkTokens, tokens.Length - start));
            bool last = start + chunk.Length == tokens.Length;
            Model.Forward(chunk, State, last ? _logits : Span<float>.Empty);
            _hasLogits = last; // until the last chunk, the logits do not belong to the state (a cancel may stop here)
            _history?.AddRange(chunk);
            ForwardedTokenCount += chunk.Length;
        }
    }

    private Generation Begin(GenerationOptions? options)
    {
        options ??= GenerationOptions.Default;
        options.Validate();
        if (!_hasLogits)
        {
            throw new InvalidOperationException("Append a prompt (or load a state with logits) before generating: there is nothing to predict from.");
        }

        return new Generation(this, options, PrepareSampler(options.Sampling));
    }

    private GenerationResult Finish(Generation run, StringBuilder text)
    {
        GenerationResult result = run.Result(text.ToString());
        LastGeneration = result;
        return result;
    }

    /// <summary>The sampler for these options: reused when they are unchanged, with penalties cleared and the seed restarted.</summary>
    private Sampler PrepareSampler(SamplingOptions options)
    {
        if (_sampler is null || !Equals(_sampler.Options, options))
        {
            _sampler = new Sampler(Model.Shape.Vocab, options);
            for (int id = Tokenizer.VocabularySize; id < Model.Shape.Vocab; id++)
            {
                _sampler.Ban(id); // logits the tokenizer cannot decode
            }
        }
        else
        {
            _sampler.ResetPenalties();
            if (options.Seed is long seed)
            {
                _sampler.Reseed(seed);
            }
        }

        return _sampler;
    }

    private void Enter()
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            throw new InvalidOperationException("The session is in use (a generation is running); a session serves one caller at a time. Fork it for parallel work.");
        }
    }

    private void Exit() => Volatile.Write(ref _busy, 0);

    /// <summary>Checks the arguments (before anything else is evaluated) and creates the zero state.</summary>
    private static RwkvState NewState(RwkvModel model, RwkvTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.VocabularySize > model.Shape.Vocab)
        {
            throw new ArgumentException(
                $"The tokenizer has {tokenizer.VocabularySize} ids but the model only {model.Shape.Vocab} logits.", nameof(tokenizer));
        }

        return model.CreateState();
    }

    /// <summary>The state of one generation: counts, stop matching, the tokens produced.</summary>
    private sealed class Generation(RwkvSession session, GenerationOptions options, Sampler sampler)
    {
        private readonly StopSequenceMatcher _stops = new(options.StopSequences);
        private readonly List<int> _tokens = [];
        private readonly StringBuilder _decoded = new();
        private readonly bool[]? _exempt = options.Sampling.ExemptWhitespaceAndDigits ? WhitespaceAndDigitTokens.Table(session.Tokenizer) : null;
        private GenerationStopReason _reason = GenerationStopReason.MaxTokens;
        private int? _stopToken;

        /// <summary>Draws, feeds and decodes one token, appending the text now safe to show. False when finished.</summary>
        public bool Step(StringBuilder output, CancellationToken cancellationToken)
        {
            if (_tokens.Count >= options.MaxTokens)
            {
                _stops.Flush(output);
                return false;
            }

            cancellationToken.ThrowIfCancellationRequested();
            int token = sampler.Sample(session._logits);
            if (IsStopToken(token))
            {
                _reason = GenerationStopReason.StopToken;
                _stopToken = token;
                _stops.Flush(output);
                return false;
            }

            sampler.Accept(token, _exempt is not null && _exempt[token] ? 0f : 1f);
            session.Feed([token]);
            _tokens.Add(token);

            _decoded.Clear();
            session._decoder.Append(session.Tokenizer.GetTokenBytes(token), _decoded);
            foreach (ReadOnlyMemory<char> chunk in _decoded.GetChunks())
            {
                if (_stops.Push(chunk.Span, output))
                {
                    _reason = GenerationStopReason.StopSequence;
                    return false;
                }
            }

            if (_tokens.Count >= options.MaxTokens)
            {
                _stops.Flush(output);
                return false;
            }

            return true;
        }

        public GenerationResult Result(string text) =>
            new(text, _tokens.ToArray(), _reason, _reason == GenerationStopReason.StopSequence ? _stops.Matched : null, _stopToken);

        private bool IsStopToken(int token)
        {
            if (options.StopAtEndOfText && session.Tokenizer.EndOfTextId == token)
            {
                return true;
            }

            foreach (int stop in options.StopTokens)
            {
                if (stop == token)
                {
                    return true;
                }
            }

            return false;
        }
    }
}
