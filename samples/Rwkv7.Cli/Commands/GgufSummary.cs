using System.Globalization;
using Rwkv7.Gen;
using Rwkv7.Gen.Chat;
using Rwkv7.Gen.Loading;
using Rwkv7.Gen.Loading.Gguf;
using Rwkv7.Gen.Weights;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// The lines <c>rwkv7 info</c> adds for a GGUF file: its metadata (version, name, file type), how each group of
/// tensors is stored and what it was packed as, the context length it claims, its tokenizer and chat template.
/// </summary>
internal static class GgufSummary
{
    /// <summary>The tensor groups shown, in order, with the test that puts a GGUF tensor name in each.</summary>
    private static readonly (string Label, Func<string, bool> Contains)[] Groups =
    [
        ("embedding", n => n == "token_embd.weight"),
        ("head", n => n == "output.weight"),
        ("time mix", n => n.EndsWith("time_mix_receptance.weight", StringComparison.Ordinal) || n.EndsWith("time_mix_key.weight", StringComparison.Ordinal)
            || n.EndsWith("time_mix_value.weight", StringComparison.Ordinal) || n.EndsWith("time_mix_output.weight", StringComparison.Ordinal)),
        ("channel mix", n => n.EndsWith("channel_mix_key.weight", StringComparison.Ordinal) || n.EndsWith("channel_mix_value.weight", StringComparison.Ordinal)),
        ("lora", n => IsLora(n)),
        ("vectors", _ => true),
    ];

    public static void Write(TextWriter output, GgufModelInfo gguf, RwkvWeights weights, bool vocabularyGiven)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        string fileType = gguf.FileType is int f ? $"{gguf.FileTypeName ?? "unknown"} ({f.ToString(c)}, a label: each tensor's own type counts)" : "not stated";
        output.WriteLine($"gguf        version {gguf.Version}, architecture {gguf.Architecture}, name \"{gguf.Name}\", file type {fileType}");
        foreach ((string label, string types) in TensorGroups(gguf, weights))
        {
            output.WriteLine($"  {label,-12}{types}");
        }

        output.WriteLine(gguf.ContextLength is long context
            ? string.Format(c, "context     {0:N0} claimed by the file; RWKV has no context limit (its state has a fixed size)", context)
            : "context     not stated; RWKV has no context limit (its state has a fixed size)");
        output.WriteLine($"tokenizer   {Tokenizer(gguf, weights.Shape, vocabularyGiven)}");
        output.WriteLine($"chat        {Chat(gguf.ChatTemplateKind)}");
    }

    /// <summary>Each group's stored types (with counts) and the types it was packed as.</summary>
    public static IEnumerable<(string Label, string Types)> TensorGroups(GgufModelInfo gguf, RwkvWeights weights)
    {
        var byGroup = new Dictionary<string, List<GgufTensorSummary>>(StringComparer.Ordinal);
        foreach (GgufTensorSummary t in gguf.Tensors.Where(t => t.CanonicalName is not null))
        {
            string group = Groups.First(g => g.Contains(t.GgufName)).Label;
            (byGroup.TryGetValue(group, out List<GgufTensorSummary>? list) ? list : byGroup[group] = []).Add(t);
        }

        foreach ((string label, _) in Groups)
        {
            if (!byGroup.TryGetValue(label, out List<GgufTensorSummary>? tensors))
            {
                continue;
            }

            string stored = string.Join(", ", tensors.GroupBy(t => t.Type).OrderBy(g => g.Key)
                .Select(g => $"{GgmlTypes.Name(g.Key)} ×{g.Count().ToString(CultureInfo.InvariantCulture)}"));
            TensorDType[] packed = Packed(label, weights);
            string packedText = packed.Length == 0 ? "fp32" : string.Join(", ", packed.Select(t => t.DisplayName()));
            bool requantized = tensors.Any(t => GgmlTypes.IsBlockQuantized(t.Type)
                && packed.Any(p => p is TensorDType.Q8 or TensorDType.Q4) && !packed.All(p => GgmlTypes.PacksExactly(t.Type, p)));
            bool kept = tensors.Any(t => GgmlTypes.IsBlockQuantized(t.Type)) && !requantized && packed.All(p => p is TensorDType.Q8 or TensorDType.Q4);
            string note = requantized ? " (decoded exactly, then quantized again)" : kept ? " (the file's blocks, kept as they are)" : string.Empty;
            yield return (label, $"{stored} → {packedText}{note}");
        }
    }

    private static TensorDType[] Packed(string group, RwkvWeights w) => group switch
    {
        "embedding" => [w.Embedding.Type],
        "head" => [w.Head.Type],
        "time mix" => Distinct(w.Layers.SelectMany(l => new[] { l.Receptance, l.Key, l.Value, l.Output })),
        "channel mix" => Distinct(w.Layers.SelectMany(l => new[] { l.FfnKey, l.FfnValue })),
        "lora" => Distinct(w.Layers.SelectMany(l => new[] { l.DecayDown, l.DecayUp, l.IclrDown, l.IclrUp, l.ValueDown, l.ValueUp, l.GateDown, l.GateUp })),
        _ => [],
    };

    private static TensorDType[] Distinct(IEnumerable<WeightMatrix> matrices) =>
        matrices.Where(m => !m.IsEmpty).Select(m => m.Type).Distinct().Order().ToArray();

    private static bool IsLora(string name)
    {
        int at = name.LastIndexOf(".time_mix_", StringComparison.Ordinal);
        return at >= 0 && name.Length == at + ".time_mix_x1.weight".Length && name[at + ".time_mix_".Length] is 'w' or 'a' or 'v' or 'g'
            && name[at + ".time_mix_x".Length] is '1' or '2';
    }

    private static string Tokenizer(GgufModelInfo gguf, ModelShape shape, bool vocabularyGiven) =>
        shape.Vocab == Gen.Text.ByteTokenizer.ByteVocabularySize ? $"bytes (vocabulary 256; the file lists {gguf.TokenCount} tokens)"
        : vocabularyGiven ? $"World, from --vocab (given; the file's {gguf.TokenCount} tokens are not used)"
        : gguf.HasWorldVocabulary ? $"World, {gguf.TokenCount} tokens from the file (tokenizer.ggml.model \"{gguf.TokenizerModel}\"); --vocab would replace it"
        : $"none usable in the file (tokenizer.ggml.model \"{gguf.TokenizerModel}\"): pass --vocab";

    private static string Chat(GgufChatTemplate kind) => kind switch
    {
        GgufChatTemplate.RwkvWorld => $"the file's template is the RWKV World turn format, which chat writes ({G1ChatFormat.UserRole}: …, {G1ChatFormat.AssistantRole}:)",
        GgufChatTemplate.Unrecognized => "the file's template is not one Rwkv7.Gen recognises: ignored, chat uses the RWKV G1 format",
        _ => "no template in the file: chat uses the RWKV G1 format",
    };
}
