using Rwkv7.Gen.Chat;

namespace Rwkv7.Gen.Tests.Chat;

/// <summary>
/// Reasoning and answer are separated the same way whether the reply arrives whole or in pieces cut anywhere,
/// including inside the closing tag and inside the white space around it.
/// </summary>
public sealed class ReplySplitterTests
{
    [Theory]
    [InlineData(">\n  Light scatters.\nShort waves more.\n</think>\n\nBlue light scatters most.", "Light scatters.\nShort waves more.", "Blue light scatters most.")]
    [InlineData(">No space</think>Answer", "No space", "Answer")]
    [InlineData(" still thinking </thi", "still thinking </thi", "")]   // never closed: all reasoning, partial tag kept
    [InlineData(">a < b and </b> is not the tag</think> ok", "a < b and </b> is not the tag", "ok")]
    [InlineData("></think>Straight to it", "", "Straight to it")]
    public void Thinking_on_splits_at_the_closing_tag(string reply, string reasoning, string answer)
    {
        Assert.Equal((reasoning, answer), ReplySplitter.Split(ChatThinking.On, reply));
        Assert.Equal((reasoning, answer), Streamed(ChatThinking.On, Characters(reply)));
        for (int cut = 0; cut <= reply.Length; cut++)
        {
            Assert.Equal((reasoning, answer), Streamed(ChatThinking.On, [reply[..cut], reply[cut..]]));
        }
    }

    [Theory]
    [InlineData(ChatThinking.Off, "  \nHello </think> there", "Hello </think> there")]
    [InlineData(ChatThinking.Skip, ">\nHello", "Hello")]
    public void Other_modes_have_no_reasoning(ChatThinking thinking, string reply, string answer)
    {
        Assert.Equal(("", answer), ReplySplitter.Split(thinking, reply));
        Assert.Equal(("", answer), Streamed(thinking, Characters(reply)));
    }

    private static string[] Characters(string text) => text.Select(c => c.ToString()).ToArray();

    private static (string Reasoning, string Answer) Streamed(ChatThinking thinking, string[] pieces)
    {
        var splitter = new ReplySplitter(thinking);
        var parts = new List<ReplyPart>();
        foreach (string piece in pieces)
        {
            splitter.Push(piece, parts);
        }

        splitter.Finish(parts);
        return (string.Concat(parts.Where(p => p.IsReasoning).Select(p => p.Text)), string.Concat(parts.Where(p => !p.IsReasoning).Select(p => p.Text)));
    }
}
