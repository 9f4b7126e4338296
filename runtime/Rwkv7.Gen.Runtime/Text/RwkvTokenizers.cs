using System.Diagnostics.CodeAnalysis;

namespace Rwkv7.Gen.Text;

/// <summary>Picks the tokenizer that belongs to a model.</summary>
public static class RwkvTokenizers
{
    /// <summary>
    /// The byte tokenizer for a model with a vocabulary of 256, otherwise the World tokenizer read from
    /// <paramref name="vocabularyPath"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The model needs the World vocabulary and no path was given.</exception>
    /// <exception cref="RwkvException">The vocabulary does not fit the model (more ids than the model has logits).</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in the type of their first parameters: no call can bind to two of them.")]
    public static RwkvTokenizer ForModel(ModelShape shape, string? vocabularyPath = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Vocab == ByteTokenizer.ByteVocabularySize)
        {
            return ByteTokenizer.Instance;
        }

        if (vocabularyPath is null)
        {
            throw new ArgumentException(
                $"A model with a vocabulary of {shape.Vocab} uses the World tokenizer: pass the path of {WorldTokenizer.VocabularyFileName}.",
                nameof(vocabularyPath));
        }

        return CheckFits(shape, WorldTokenizer.Load(vocabularyPath));
    }

    /// <summary>As <see cref="ForModel(ModelShape, string?)"/>, reading the World vocabulary from a stream when it is needed.</summary>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in the type of their first parameters: no call can bind to two of them.")]
    public static RwkvTokenizer ForModel(ModelShape shape, Stream? vocabulary, string sourceName = "vocabulary stream")
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Vocab == ByteTokenizer.ByteVocabularySize)
        {
            return ByteTokenizer.Instance;
        }

        if (vocabulary is null)
        {
            throw new ArgumentException(
                $"A model with a vocabulary of {shape.Vocab} uses the World tokenizer: pass a stream of {WorldTokenizer.VocabularyFileName}.",
                nameof(vocabulary));
        }

        return CheckFits(shape, WorldTokenizer.Load(vocabulary, sourceName));
    }

    /// <summary>
    /// The tokenizer for loaded weights: the World vocabulary at <paramref name="vocabularyPath"/> when one is given
    /// (it wins over the file's own), else the byte tokenizer for a vocabulary of 256, else the World vocabulary a GGUF
    /// file carries (<see cref="Loading.Gguf.GgufModelInfo.CreateWorldTokenizer"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The model needs the World vocabulary, none was given and the file carries none.</exception>
    /// <exception cref="RwkvException">The vocabulary does not fit the model.</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in the type of their first parameters: no call can bind to two of them.")]
    public static RwkvTokenizer ForModel(Weights.RwkvWeights weights, string? vocabularyPath = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (vocabularyPath is null && weights.Shape.Vocab != ByteTokenizer.ByteVocabularySize && weights.Gguf is { HasWorldVocabulary: true } gguf)
        {
            return CheckFits(weights.Shape, gguf.CreateWorldTokenizer());
        }

        return ForModel(weights.Shape, vocabularyPath);
    }

    private static WorldTokenizer CheckFits(ModelShape shape, WorldTokenizer tokenizer)
    {
        if (tokenizer.VocabularySize > shape.Vocab)
        {
            throw new RwkvException(
                $"The vocabulary {tokenizer.Source} has ids up to {tokenizer.VocabularySize - 1}, but the model has only {shape.Vocab} logits.");
        }

        return tokenizer;
    }
}
