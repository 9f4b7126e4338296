namespace Rwkv7.Gen.Chat;

/// <summary>
/// Turns the model's continuation of the assistant prompt into answer text, piece by piece, so streaming and
/// non-streaming replies agree: white space the model writes after <c>Assistant:</c> is dropped; when thinking is
/// skipped, the <c>&gt;</c> that closes the prompt's empty block is dropped too. (Reasoning, with thinking on, is
/// separated before this by <see cref="ReplySplitter"/>.)
/// </summary>
internal sealed class ReplyShaper(ChatThinking thinking)
{
    private bool _started;
    private bool _closeSeen = thinking != ChatThinking.Skip;

    /// <summary>The reply text for the next piece of model output (may be empty).</summary>
    public string Shape(string piece)
    {
        if (_started)
        {
            return piece;
        }

        int i = 0;
        if (!_closeSeen && piece.Length > 0)
        {
            _closeSeen = true;
            if (piece[0] == '>')
            {
                i = 1;
            }
        }

        while (i < piece.Length && char.IsWhiteSpace(piece[i]))
        {
            i++;
        }

        if (i == piece.Length)
        {
            return "";
        }

        _started = true;
        return piece[i..];
    }
}
