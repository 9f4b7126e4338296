using System.Text;

namespace Rwkv7.Gen.Chat;

/// <summary>How the assistant's turn is opened (RWKV-7 G1 models can think before answering).</summary>
public enum ChatThinking
{
    /// <summary>Plain chat: the turn opens with <c>Assistant:</c>.</summary>
    Off,

    /// <summary>Think first: the turn opens with <c>Assistant: &lt;think</c> and the model writes its reasoning, then the answer.</summary>
    On,

    /// <summary>
    /// An empty reasoning block is written for the model (<c>Assistant: &lt;think&gt;\n&lt;/think</c>), so it answers at once
    /// in the style of its thinking mode.
    /// </summary>
    Skip,
}

/// <summary>
/// The RWKV-7 G1 chat template, as the model cards and BlinkDL's <c>API_DEMO_CHAT.py</c> use it:
/// <code>
/// System: SYSTEM_PROMPT
///
/// User: PREVIOUS_MESSAGE
///
/// Assistant: PREVIOUS_REPLY
///
/// User: USER_PROMPT
///
/// Assistant:
/// </code>
/// A blank line (<c>"\n\n"</c>) ends a turn, so message text is cleaned first: line endings become <c>\n</c>, the
/// text is trimmed, and every run of newlines becomes a single one (the demo's <c>re.sub(r"\n+", "\n", msg)</c>).
/// </summary>
public static class G1ChatFormat
{
    /// <summary>Ends every turn; generation stops when the model writes it.</summary>
    public const string TurnSeparator = "\n\n";

    /// <summary>Role name of system turns.</summary>
    public const string SystemRole = "System";

    /// <summary>Role name of user turns.</summary>
    public const string UserRole = "User";

    /// <summary>Role name of assistant turns.</summary>
    public const string AssistantRole = "Assistant";

    /// <summary>What the model is given to start its reply in each thinking mode.</summary>
    public static string AssistantPrompt(ChatThinking thinking) => thinking switch
    {
        ChatThinking.Off => "Assistant:",
        ChatThinking.On => "Assistant: <think",
        ChatThinking.Skip => "Assistant: <think>\n</think",
        _ => throw new ArgumentOutOfRangeException(nameof(thinking), thinking, "Unknown thinking mode."),
    };

    /// <summary>One finished turn: <c>Role: content\n\n</c>, with the content cleaned.</summary>
    public static string Turn(string role, string content)
    {
        ArgumentException.ThrowIfNullOrEmpty(role);
        ArgumentNullException.ThrowIfNull(content);
        return $"{role}: {CleanContent(content)}{TurnSeparator}";
    }

    /// <summary>
    /// Makes message text safe inside a turn: <c>\r\n</c> and <c>\r</c> become <c>\n</c>, surrounding white space goes,
    /// and runs of newlines collapse to one, so the text never contains the turn separator.
    /// </summary>
    public static string CleanContent(string content)
    {
        ArgumentNullException.ThrowIfNull(content);
        string text = content.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n').Trim();
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (c == '\n' && sb.Length > 0 && sb[^1] == '\n')
            {
                continue;
            }

            sb.Append(c);
        }

        return sb.ToString();
    }
}
