using Rwkv7.Gen.Text;

namespace Rwkv7.Gen.Tests.Chat;

/// <summary>The byte tokenizer, except that one byte value plays the World vocabulary's end-of-text token.</summary>
internal sealed class EndOfTextByteTokenizer(int endOfText) : RwkvTokenizer
{
    public override int VocabularySize => 256;

    public override int? EndOfTextId => endOfText;

    public override ReadOnlySpan<byte> GetTokenBytes(int id) => ByteTokenizer.Instance.GetTokenBytes(id);

    public override int EncodeUtf8(ReadOnlySpan<byte> utf8, Span<int> destination) => ByteTokenizer.Instance.EncodeUtf8(utf8, destination);
}
