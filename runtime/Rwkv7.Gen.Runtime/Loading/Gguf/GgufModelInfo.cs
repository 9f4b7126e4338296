using System.Globalization;
using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Loading.Gguf;

/// <summary>One tensor of a GGUF file as stored, and the canonical tensor it became.</summary>
/// <param name="GgufName">Name in the file, e.g. <c>blk.0.time_mix_key.weight</c>.</param>
/// <param name="CanonicalName">The canonical RWKV-LM name (the first of six for the fused token shift), or null when the tensor is dropped or unknown.</param>
/// <param name="Type">Stored element type.</param>
/// <param name="Dims">Dimensions innermost first, as the file lists them.</param>
public sealed record GgufTensorSummary(string GgufName, string? CanonicalName, GgmlType Type, IReadOnlyList<int> Dims);

/// <summary>What a GGUF file's chat template is, as far as this project is concerned.</summary>
public enum GgufChatTemplate
{
    /// <summary>The file carries no <c>tokenizer.chat_template</c>.</summary>
    None,

    /// <summary>
    /// The RWKV World turn format (<c>User: …\n\nAssistant:</c>) that llama.cpp recognises as <c>rwkv-world</c>: the
    /// format <see cref="Chat.G1ChatFormat"/> writes, so chat uses it.
    /// </summary>
    RwkvWorld,

    /// <summary>Some other template: ignored, chat uses <see cref="Chat.G1ChatFormat"/>.</summary>
    Unrecognized,
}

/// <summary>
/// The metadata of a GGUF checkpoint that matters to running it: architecture, name, file type, the context length it
/// claims, the tokenizer it carries and the type of every tensor. Available as <see cref="Checkpoint.Gguf"/> and
/// <see cref="Weights.RwkvWeights.Gguf"/>.
/// </summary>
public sealed class GgufModelInfo
{
    /// <summary>The tokenizer model llama.cpp uses for RWKV World vocabularies (greedy longest match over bytes).</summary>
    public const string RwkvTokenizerModel = "rwkv";

    private const string TokensKey = "tokenizer.ggml.tokens";
    private const string TokenTypesKey = "tokenizer.ggml.token_type";

    /// <summary>llama.cpp token types that stand for text (normal, user-defined, byte); control and unused tokens have no bytes.</summary>
    private const int NormalToken = 1, UserDefinedToken = 4, ByteToken = 6;

    private readonly string _path;
    private readonly GgufArray? _tokens;
    private readonly GgufArray? _tokenTypes;

    private GgufModelInfo(string path, GgufArray? tokens, GgufArray? tokenTypes)
    {
        _path = path;
        _tokens = tokens;
        _tokenTypes = tokenTypes;
    }

    /// <summary>GGUF version (2 or 3).</summary>
    public int Version { get; private init; }

    /// <summary><c>general.architecture</c> (always <c>rwkv7</c> for a file that opened).</summary>
    public string Architecture { get; private init; } = string.Empty;

    /// <summary><c>general.name</c>, if present.</summary>
    public string? Name { get; private init; }

    /// <summary><c>general.file_type</c>: a label of the file's main type (llama.cpp's <c>llama_ftype</c>); each tensor's own type is what counts.</summary>
    public int? FileType { get; private init; }

    /// <summary>The context length the file claims (RWKV has no context limit; converters write a placeholder).</summary>
    public long? ContextLength { get; private init; }

    /// <summary><c>tokenizer.ggml.model</c>, e.g. <c>rwkv</c>.</summary>
    public string? TokenizerModel { get; private init; }

    /// <summary>Number of entries in <c>tokenizer.ggml.tokens</c> (0 when absent).</summary>
    public int TokenCount => _tokens?.Count ?? 0;

    /// <summary><c>tokenizer.chat_template</c>, if present.</summary>
    public string? ChatTemplate { get; private init; }

    /// <summary>How the chat template is treated.</summary>
    public GgufChatTemplate ChatTemplateKind => ClassifyChatTemplate(ChatTemplate);

    /// <summary>Every tensor of the file, in file order.</summary>
    public IReadOnlyList<GgufTensorSummary> Tensors { get; private init; } = [];

    /// <summary>Whether the file carries an RWKV World vocabulary (<c>tokenizer.ggml.model</c> = <c>rwkv</c> with a token list).</summary>
    public bool HasWorldVocabulary => TokenizerModel == RwkvTokenizerModel && _tokens is not null;

    /// <summary>llama.cpp's name for <see cref="FileType"/>, e.g. <c>MOSTLY_Q4_K_M</c>, or null when unknown.</summary>
    public string? FileTypeName => FileType switch
    {
        0 => "ALL_F32",
        1 => "MOSTLY_F16",
        2 => "MOSTLY_Q4_0",
        3 => "MOSTLY_Q4_1",
        7 => "MOSTLY_Q8_0",
        8 => "MOSTLY_Q5_0",
        9 => "MOSTLY_Q5_1",
        10 => "MOSTLY_Q2_K",
        11 => "MOSTLY_Q3_K_S",
        12 => "MOSTLY_Q3_K_M",
        13 => "MOSTLY_Q3_K_L",
        14 => "MOSTLY_Q4_K_S",
        15 => "MOSTLY_Q4_K_M",
        16 => "MOSTLY_Q5_K_S",
        17 => "MOSTLY_Q5_K_M",
        18 => "MOSTLY_Q6_K",
        32 => "MOSTLY_BF16",
        _ => null,
    };

    /// <summary>
    /// The World tokenizer built from the file's token list: each token's bytes undo llama.cpp's escapes (<c>\\</c>,
    /// <c>\t</c>, <c>\n</c>, <c>\r</c>, <c>\xHH</c>; a backslash before any other character stands for that character);
    /// control and unused tokens (<c>&lt;s&gt;</c>, padding) have no bytes, as id 0 has none in the vocabulary file.
    /// </summary>
    /// <exception cref="InvalidOperationException">The file carries no World vocabulary (<see cref="HasWorldVocabulary"/>).</exception>
    /// <exception cref="RwkvFormatException">A token is malformed, or two tokens have the same bytes.</exception>
    public WorldTokenizer CreateWorldTokenizer()
    {
        if (!HasWorldVocabulary)
        {
            throw new InvalidOperationException($"{_path} carries no RWKV World vocabulary (tokenizer.ggml.model is '{TokenizerModel}').");
        }

        GgufArray tokens = _tokens!;
        string source = $"{_path} ({TokensKey})";
        var bytes = new List<byte>(tokens.Data.Length);
        int[] offsets = new int[tokens.Count + 1];
        for (int id = 0; id < tokens.Count; id++)
        {
            if (IsText(id))
            {
                Unescape(tokens.StringBytes(id), bytes, source, id);
            }

            offsets[id + 1] = bytes.Count;
        }

        return WorldTokenizer.FromTokens(bytes.ToArray(), offsets, source);
    }

    private bool IsText(int id) =>
        _tokenTypes is null || id >= _tokenTypes.Count || _tokenTypes.IntegerAt(id) is NormalToken or UserDefinedToken or ByteToken;

    /// <summary>Undoes llama.cpp's escaping of one token (its <c>llama_unescape_rwkv_token</c>), rejecting a cut escape.</summary>
    private static void Unescape(ReadOnlySpan<byte> text, List<byte> output, string source, int id)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != (byte)'\\')
            {
                output.Add(text[i]);
                continue;
            }

            if (++i == text.Length)
            {
                throw new RwkvFormatException(source, $"token {id} ends with a lone backslash");
            }

            switch (text[i])
            {
                case (byte)'t': output.Add((byte)'\t'); break;
                case (byte)'n': output.Add((byte)'\n'); break;
                case (byte)'r': output.Add((byte)'\r'); break;
                case (byte)'x':
                    if (i + 2 >= text.Length
                        || !byte.TryParse(text.Slice(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte value))
                    {
                        throw new RwkvFormatException(source, $"token {id} has an escape \\x without two hex digits");
                    }

                    output.Add(value);
                    i += 2;
                    break;
                default: output.Add(text[i]); break;
            }
        }
    }

    /// <summary>
    /// Recognises the RWKV World chat template as llama.cpp does (the name <c>rwkv-world</c>, or its Jinja text), and
    /// any template that writes the same <c>User: </c> / <c>Assistant:</c> turns.
    /// </summary>
    public static GgufChatTemplate ClassifyChatTemplate(string? template) => template switch
    {
        null or "" => GgufChatTemplate.None,
        _ when template.Contains("rwkv-world", StringComparison.Ordinal) => GgufChatTemplate.RwkvWorld,
        _ when template.Contains("'User: '", StringComparison.Ordinal) && template.Contains("'Assistant:", StringComparison.Ordinal) => GgufChatTemplate.RwkvWorld,
        _ => GgufChatTemplate.Unrecognized,
    };

    internal static GgufModelInfo From(string path, GgufFile file, string architecture, IReadOnlyList<GgufTensorSummary> tensors)
    {
        GgufMetadata m = file.Metadata;
        return new GgufModelInfo(path, m.Array(TokensKey, GgufValueType.String), m.Array(TokenTypesKey, elementType: null))
        {
            Version = file.Version,
            Architecture = architecture,
            Name = m.String("general.name"),
            FileType = m.Count("general.file_type") is long f ? (int)Math.Min(f, int.MaxValue) : null,
            ContextLength = m.Count($"{architecture}.context_length"),
            TokenizerModel = m.String("tokenizer.ggml.model"),
            ChatTemplate = m.String("tokenizer.chat_template"),
            Tensors = tensors,
        };
    }
}
