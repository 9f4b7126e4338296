using Rwkv7.Gen.Chat;

namespace Rwkv7.Gen.Tests.Chat;

public sealed class G1ChatFormatTests
{
    [Theory]
    [InlineData("hello", "hello")]
    [InlineData("  padded \t", "padded")]
    [InlineData("one\n\ntwo", "one\ntwo")]
    [InlineData("one\r\n\r\n\r\ntwo\rthree", "one\ntwo\nthree")]
    [InlineData("\n\nlead and trail\n\n\n", "lead and trail")]
    [InlineData("a\n \nb", "a\n \nb")] // a line of spaces is not a blank line separator
    [InlineData("", "")]
    public void Content_is_cleaned_so_it_cannot_end_a_turn(string input, string expected)
    {
        string cleaned = G1ChatFormat.CleanContent(input);
        Assert.Equal(expected, cleaned);
        Assert.DoesNotContain(G1ChatFormat.TurnSeparator, cleaned, StringComparison.Ordinal);
    }

    [Fact]
    public void Turns_and_assistant_prompts_follow_the_g1_template()
    {
        Assert.Equal("System: Be brief.\n\n", G1ChatFormat.Turn(G1ChatFormat.SystemRole, "Be brief."));
        Assert.Equal("User: line one\nline two\n\n", G1ChatFormat.Turn(G1ChatFormat.UserRole, "line one\n\n\nline two\n"));
        Assert.Equal("Assistant:", G1ChatFormat.AssistantPrompt(ChatThinking.Off));
        Assert.Equal("Assistant: <think", G1ChatFormat.AssistantPrompt(ChatThinking.On));
        Assert.Equal("Assistant: <think>\n</think", G1ChatFormat.AssistantPrompt(ChatThinking.Skip));
    }
}
