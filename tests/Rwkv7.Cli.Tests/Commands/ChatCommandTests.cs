using Rwkv7.Cli.Tests.Infrastructure;
using Rwkv7.Gen.Chat;
using Rwkv7.Gen.Sessions;
using Rwkv7.Gen.Text;

namespace Rwkv7.Cli.Tests.Commands;

public sealed class ChatCommandTests
{
    private static CliResult Chat(string script, params string[] extra) =>
        TestCli.Run(["chat", "--model", Paths.TinyModel, "--seed", "11", "--max-tokens", "24", .. extra], script);

    [Fact]
    public void A_reply_is_the_model_continuing_the_G1_template()
    {
        CliResult r = Chat("Tell me a story.\n", "--system", "You are a storyteller.");
        Assert.True(r.ExitCode == 0, r.ToString());

        var session = new RwkvSession(TinyModel.Model, ByteTokenizer.Instance);
        session.Append("System: You are a storyteller.\n\n");
        session.Append("User: Tell me a story.\n\nAssistant:");
        GenerationResult expected = session.Generate(new GenerationOptions
        {
            MaxTokens = 24,
            StopSequences = ["\n\n"],
            Sampling = RwkvChatClientOptions.DefaultSampling with { Seed = 11 },
        });
        Assert.Equal(expected.Text.TrimStart() + "\n", r.Out);
    }

    [Fact]
    public void Saving_resetting_and_loading_continues_the_conversation_exactly()
    {
        using var temp = new TempFolder();
        string state = temp.File("conversation.state");
        CliResult straight = Chat("Hello there\nHow are you?\n");
        CliResult resumed = Chat($"Hello there\n/save {state}\n/reset\n/load {state}\nHow are you?\n");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.True(File.Exists(state));
        Assert.Equal(straight.Out, resumed.Out);
        Assert.Contains($"saved the conversation to {state}", resumed.Error, StringComparison.Ordinal);

        // Without /load, the second reply answers a conversation that lost its first turn.
        CliResult forgotten = Chat("Hello there\n/reset\nHow are you?\n");
        Assert.NotEqual(straight.Out, forgotten.Out);
        Assert.Equal(Chat("Hello there\n").Out + Chat("How are you?\n").Out, forgotten.Out);
    }

    [Fact]
    public void Thinking_mode_opens_the_reply_with_think()
    {
        CliResult r = Chat("Why is the sky blue?\n/think off\nWhy?\n", "--think", "on");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.StartsWith("<think", r.Out, StringComparison.Ordinal);
        Assert.Contains("thinking off", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_failed_command_is_reported_in_one_line_and_the_chat_goes_on()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("junk.state"), "not a state file");
        CliResult r = Chat($"/load {temp.File("junk.state")}\n/frobnicate\nHello\n");
        Assert.Equal(1, r.ExitCode); // piped input: failed commands show in the exit code
        Assert.Equal(2, r.ErrorLines.Length);
        Assert.StartsWith("rwkv7: ", r.ErrorLines[0], StringComparison.Ordinal);
        Assert.Contains("junk.state", r.ErrorLines[0], StringComparison.Ordinal);
        Assert.Contains("unknown command /frobnicate", r.ErrorLines[1], StringComparison.Ordinal);
        Assert.Equal(Chat("Hello\n").Out, r.Out);
    }

    [Fact]
    public void Ctrl_C_stops_the_answer_but_not_the_conversation()
    {
        CliResult r = TestCli.Run(
            ["chat", "--model", Paths.TinyModel, "--seed", "11", "--max-tokens", "200", "--temperature", "0"], "Hello\nHello again\n", interruptAfterWrites: 2);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("[stopped]", r.Error, StringComparison.Ordinal);
        string[] replies = r.Out.Split('\n');
        Assert.True(replies.Length >= 3, r.ToString()); // a cut first reply, then a second one
        Assert.InRange(replies[0].Length, 1, 8);
    }

    [Fact]
    public void Slash_commands_quit_and_double_slash_sends_a_slash()
    {
        CliResult quit = Chat("/quit\nHello\n");
        Assert.Equal(0, quit.ExitCode);
        Assert.Empty(quit.Out);

        CliResult slash = Chat("//etc\n");
        Assert.Equal(0, slash.ExitCode);
        var session = new RwkvSession(TinyModel.Model, ByteTokenizer.Instance);
        session.Append("User: /etc\n\nAssistant:");
        GenerationResult expected = session.Generate(new GenerationOptions
        {
            MaxTokens = 24,
            StopSequences = ["\n\n"],
            Sampling = RwkvChatClientOptions.DefaultSampling with { Seed = 11 },
        });
        Assert.Equal(expected.Text.TrimStart() + "\n", slash.Out);
    }
}
