using System.Text.Json;
using Rwkv7.Gen.Chat;
using Rwkv7.Gen.Text;

namespace Rwkv7.Serving.Http;

/// <summary>
/// A chat request's messages in the G1 template, tokenized one turn at a time (as the official chat code does), so that
/// a conversation sent back with one more turn starts with exactly the tokens of the one before: the state cache then
/// finds it.
/// </summary>
/// <param name="Prompt">Every turn, then the assistant prompt of <paramref name="Thinking"/>.</param>
/// <param name="Turns">Every turn without the assistant prompt: the start of the next request's prompt.</param>
/// <param name="Thinking">How the assistant's turn opens.</param>
internal sealed record ChatPrompt(int[] Prompt, int[] Turns, ChatThinking Thinking)
{
    /// <summary>Reads <c>messages</c> and renders them.</summary>
    public static ChatPrompt Read(JsonElement body, RwkvTokenizer tokenizer, ChatThinking thinking)
    {
        JsonElement messages = JsonFields.Array(body, "messages") ?? throw ApiException.Missing("messages");
        int count = messages.GetArrayLength();
        if (count == 0)
        {
            throw ApiException.InvalidValue("messages", "'messages' must hold at least one message.");
        }

        var turns = new List<int>();
        string lastRole = "";
        int index = 0;
        foreach (JsonElement message in messages.EnumerateArray())
        {
            string at = $"messages[{index++}]";
            if (message.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.InvalidType(at, "an object");
            }

            string role = JsonFields.String(message, "role", at + ".role") ?? throw ApiException.Missing(at + ".role");
            lastRole = role switch
            {
                "system" or "developer" => G1ChatFormat.SystemRole,
                "user" => G1ChatFormat.UserRole,
                "assistant" => G1ChatFormat.AssistantRole,
                "tool" or "function" => throw ApiException.Unsupported(at + ".role", $"RWKV chat has no '{role}' messages: it cannot call tools."),
                _ => throw ApiException.InvalidValue(at + ".role", $"'{at}.role' must be 'system', 'developer', 'user' or 'assistant', not '{role}'."),
            };
            if (JsonFields.Optional(message, "tool_calls") is not null)
            {
                throw ApiException.Unsupported(at + ".tool_calls", "RWKV chat cannot call tools.");
            }

            turns.AddRange(tokenizer.EncodeToIdArray(G1ChatFormat.Turn(lastRole, Content(message, at, role))));
        }

        if (lastRole == G1ChatFormat.AssistantRole)
        {
            throw ApiException.InvalidValue("messages", "The last message is the assistant's: there is nothing to reply to.");
        }

        int[] prefix = [.. turns];
        int[] prompt = [.. turns, .. tokenizer.EncodeToIdArray(G1ChatFormat.AssistantPrompt(thinking))];
        return new ChatPrompt(prompt, prefix, thinking);
    }

    /// <summary>A turn's tokens as the next request will send this reply back: <c>Assistant: ANSWER</c> and the blank line.</summary>
    public static int[] AssistantTurn(RwkvTokenizer tokenizer, string answer) =>
        tokenizer.EncodeToIdArray(G1ChatFormat.Turn(G1ChatFormat.AssistantRole, answer));

    /// <summary>A message's text: a string, or an array of text parts (other parts are refused).</summary>
    private static string Content(JsonElement message, string at, string role)
    {
        if (JsonFields.Optional(message, "content") is not { } content)
        {
            return role == "assistant" ? "" : throw ApiException.Missing(at + ".content");
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.InvalidType(at + ".content", "a string or an array of text parts");
        }

        var text = new System.Text.StringBuilder();
        int part = 0;
        foreach (JsonElement item in content.EnumerateArray())
        {
            string partAt = $"{at}.content[{part++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.InvalidType(partAt, "an object");
            }

            string type = JsonFields.String(item, "type", partAt + ".type") ?? throw ApiException.Missing(partAt + ".type");
            if (type != "text")
            {
                throw ApiException.Unsupported(partAt + ".type", $"RWKV chat reads text only, not '{type}' content.");
            }

            text.Append(JsonFields.String(item, "text", partAt + ".text") ?? throw ApiException.Missing(partAt + ".text"));
        }

        return text.ToString();
    }
}
