using System.Text;

namespace Rwkv7.Gen.Chat;

/// <summary>One piece of a reply: the model's reasoning (inside its think block) or its answer.</summary>
/// <param name="IsReasoning">True for reasoning, false for answer text.</param>
/// <param name="Text">The piece's text (never empty).</param>
public readonly record struct ReplyPart(bool IsReasoning, string Text);

/// <summary>
/// Splits the model's continuation of the assistant prompt into reasoning and answer, piece by piece, so that a
/// streamed reply and a whole one come out the same. With <see cref="ChatThinking.On"/> the prompt ends inside an
/// opened <c>&lt;think</c>: everything up to <c>&lt;/think&gt;</c> is reasoning (the <c>&gt;</c> that completes
/// the opening tag and surrounding white space dropped), the rest is the answer. Text that may be the start of the
/// closing tag, or white space that may precede it, is held back until the next piece decides. In the other modes
/// everything is answer, shaped by <see cref="ReplyShaper"/>.
/// </summary>
/// <remarks>Servers use it to return a G1 model's reasoning apart from its answer (OpenAI's <c>reasoning_content</c>).</remarks>
public sealed class ReplySplitter
{
    private const string CloseTag = "</think>";

    private readonly ReplyShaper _answer;
    private readonly StringBuilder _held = new();
    private bool _inReasoning;
    private bool _openChecked;
    private bool _reasoningStarted;

    /// <summary>Starts a reply whose assistant prompt was opened in <paramref name="thinking"/> mode.</summary>
    public ReplySplitter(ChatThinking thinking)
    {
        _inReasoning = thinking == ChatThinking.On;
        _answer = new ReplyShaper(thinking == ChatThinking.On ? ChatThinking.Off : thinking);
    }

    /// <summary>Adds the parts that <paramref name="piece"/> completes to <paramref name="output"/>.</summary>
    public void Push(string piece, List<ReplyPart> output)
    {
        if (!_inReasoning)
        {
            AddAnswer(piece, output);
            return;
        }

        if (!_openChecked && piece.Length > 0)
        {
            _openChecked = true;
            piece = piece[0] == '>' ? piece[1..] : piece;
        }

        _held.Append(piece);
        string text = _held.ToString();
        int close = text.IndexOf(CloseTag, StringComparison.Ordinal);
        if (close >= 0)
        {
            AddReasoning(text[..close].TrimEnd(), output);
            _held.Clear();
            _inReasoning = false;
            AddAnswer(text[(close + CloseTag.Length)..], output);
            return;
        }

        int end = text.Length - PartialTagLength(text);
        while (end > 0 && char.IsWhiteSpace(text[end - 1]))
        {
            end--;
        }

        AddReasoning(text[..end], output);
        _held.Remove(0, end);
    }

    /// <summary>Adds what is still held back when the reply ends (a think block the model never closed).</summary>
    public void Finish(List<ReplyPart> output)
    {
        if (_held.Length > 0)
        {
            AddReasoning(_held.ToString().TrimEnd(), output);
            _held.Clear();
        }
    }

    /// <summary>Splits a whole reply at once: the concatenated reasoning and answer.</summary>
    public static (string Reasoning, string Answer) Split(ChatThinking thinking, string reply)
    {
        var splitter = new ReplySplitter(thinking);
        var parts = new List<ReplyPart>();
        splitter.Push(reply, parts);
        splitter.Finish(parts);
        var reasoning = new StringBuilder();
        var answer = new StringBuilder();
        foreach (ReplyPart part in parts)
        {
            (part.IsReasoning ? reasoning : answer).Append(part.Text);
        }

        return (reasoning.ToString(), answer.ToString());
    }

    /// <summary>Length of the longest end of <paramref name="text"/> that begins the closing tag.</summary>
    private static int PartialTagLength(string text)
    {
        for (int n = Math.Min(CloseTag.Length - 1, text.Length); n > 0; n--)
        {
            if (text.AsSpan(text.Length - n).SequenceEqual(CloseTag.AsSpan(0, n)))
            {
                return n;
            }
        }

        return 0;
    }

    private void AddReasoning(string text, List<ReplyPart> output)
    {
        if (!_reasoningStarted)
        {
            text = text.TrimStart();
            _reasoningStarted = text.Length > 0;
        }

        if (text.Length > 0)
        {
            output.Add(new ReplyPart(true, text));
        }
    }

    private void AddAnswer(string piece, List<ReplyPart> output)
    {
        string text = _answer.Shape(piece);
        if (text.Length > 0)
        {
            output.Add(new ReplyPart(false, text));
        }
    }
}
