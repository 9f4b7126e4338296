using Rwkv7.Cli.Tests.Infrastructure;
using Rwkv7.Gen.Text;

namespace Rwkv7.Cli.Tests.Commands;

/// <summary>Commands on a model with the World vocabulary: where the vocabulary comes from, and that it is used.</summary>
public sealed class WorldVocabularyTests
{
    private const string Prompt = "Hello, world! The quick brown fox";

    private static int WorldTokenCount => WorldTokenizer.Load(Paths.WorldVocabulary).EncodeToIdArray(Prompt).Length;

    [Fact]
    public void Generate_reads_the_prompt_with_the_World_tokenizer_from_vocab()
    {
        CliResult r = TestCli.Run(["generate", "--model", WorldSizedModel.ModelPath, "--vocab", Paths.WorldVocabulary, Prompt, "--max-tokens", "3", "--stats", "--seed", "1"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(WorldTokenCount < WorldSizedModel.ByteCount(Prompt));
        Assert.Contains($"prompt {WorldTokenCount} tokens", r.Error, StringComparison.Ordinal);
        Assert.Contains("generated Rwkv7.Cli.Models.TinyModel", r.Error, StringComparison.Ordinal); // depth and vocabulary are not specialized
    }

    [Fact]
    public void Without_a_vocabulary_a_World_model_is_a_usage_error_that_says_where_to_put_one()
    {
        CliResult r = TestCli.Run(["generate", "--model", WorldSizedModel.ModelPath, Prompt]);
        Assert.Equal(2, r.ExitCode);
        string line = Assert.Single(r.ErrorLines);
        Assert.Contains("--vocab rwkv_vocab_v20230424.txt", line, StringComparison.Ordinal);
        Assert.Contains("RWKV7_VOCAB", line, StringComparison.Ordinal);
    }

    [Fact]
    public void The_vocabulary_comes_from_RWKV7_VOCAB_or_from_the_models_folder()
    {
        var env = new Dictionary<string, string> { ["RWKV7_VOCAB"] = Paths.WorldVocabulary };
        CliResult fromEnvironment = TestCli.Run(["generate", "--model", WorldSizedModel.ModelPath, Prompt, "--max-tokens", "2", "--stats"], (byte[]?)null, env);
        Assert.True(fromEnvironment.ExitCode == 0, fromEnvironment.ToString());
        Assert.Contains($"prompt {WorldTokenCount} tokens", fromEnvironment.Error, StringComparison.Ordinal);

        using var temp = new TempFolder();
        string model = temp.File("model.safetensors");
        File.Copy(WorldSizedModel.ModelPath, model);
        File.Copy(Paths.WorldVocabulary, temp.File(WorldTokenizer.VocabularyFileName));
        CliResult beside = TestCli.Run(["generate", "--model", model, Prompt, "--max-tokens", "2", "--stats"]);
        Assert.True(beside.ExitCode == 0, beside.ToString());
        Assert.Contains($"prompt {WorldTokenCount} tokens", beside.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Chat_and_perplexity_run_on_a_World_model()
    {
        var env = new Dictionary<string, string> { ["RWKV7_VOCAB"] = Paths.WorldVocabulary, ["RWKV7_MODEL"] = WorldSizedModel.ModelPath };
        CliResult chat = TestCli.Run(["chat", "--max-tokens", "4", "--seed", "2"], "Hi\nHow are you?\n", env);
        Assert.True(chat.ExitCode == 0, chat.ToString());
        Assert.NotEmpty(chat.Out.Trim());
        Assert.Empty(chat.Error);

        using var temp = new TempFolder();
        string text = temp.File("text.txt");
        File.WriteAllText(text, Prompt);
        CliResult perplexity = TestCli.Run(["perplexity", text], (byte[]?)null, env);
        Assert.True(perplexity.ExitCode == 0, perplexity.ToString());
        // The end-of-text token starts the text, so every one of its World tokens is scored.
        Assert.Contains($"tokens       {WorldTokenCount} scored of {WorldTokenCount}", perplexity.Out, StringComparison.Ordinal);
    }
}
