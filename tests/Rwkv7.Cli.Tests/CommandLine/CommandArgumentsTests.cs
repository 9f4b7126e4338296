using Rwkv7.Cli.CommandLine;

namespace Rwkv7.Cli.Tests.CommandLine;

public sealed class CommandArgumentsTests
{
    private static readonly HashSet<string> Flags = ["all", "stats"];

    private static CommandArguments Parse(params string[] args) => CommandArguments.Parse("test", args, Flags);

    [Fact]
    public void Options_take_the_next_argument_or_an_inline_value()
    {
        CommandArguments a = Parse("--model", "m.pth", "--tokens=1,2", "--all");
        Assert.Equal("m.pth", a.Option("model"));
        Assert.Equal("1,2", a.Option("tokens"));
        Assert.True(a.Flag("all"));
        Assert.False(a.Flag("stats"));
        Assert.Null(a.Option("out"));
        a.EnsureAllUsed();
    }

    [Fact]
    public void A_value_may_start_with_a_dash()
    {
        CommandArguments a = Parse("--presence", "-0.5");
        Assert.Equal(-0.5f, a.Float("presence", 0));
    }

    [Fact]
    public void Everything_after_a_double_dash_is_positional()
    {
        CommandArguments a = Parse("--model", "m", "--", "--not-an-option", "x");
        Assert.Equal(["--not-an-option", "x"], a.Positional);
        Assert.Equal("m", a.Option("model"));
    }

    [Fact]
    public void Repeatable_options_keep_every_value_in_order_but_single_ones_refuse_a_second()
    {
        CommandArguments a = Parse("--stop", "a", "--stop", "b");
        Assert.Equal(["a", "b"], a.All("stop"));
        UsageException e = Assert.Throws<UsageException>(() => a.Option("stop"));
        Assert.Contains("--stop is given twice", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unread_options_flags_and_positionals_are_usage_errors()
    {
        CommandArguments typo = Parse("--modle", "m");
        typo.Option("model");
        Assert.Contains("does not take --modle", Assert.Throws<UsageException>(typo.EnsureAllUsed).Message, StringComparison.Ordinal);

        CommandArguments flag = Parse("--stats");
        Assert.Contains("does not take --stats", Assert.Throws<UsageException>(flag.EnsureAllUsed).Message, StringComparison.Ordinal);

        CommandArguments positional = Parse("stray");
        Assert.Contains("does not take 'stray'", Assert.Throws<UsageException>(positional.EnsureAllUsed).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void One_positional_is_accepted_when_asked_for_and_a_second_is_refused()
    {
        CommandArguments one = Parse("hello world");
        Assert.Equal("hello world", one.SinglePositional("prompt"));
        one.EnsureAllUsed();

        CommandArguments two = Parse("hello", "world");
        Assert.Contains("'world' is extra", Assert.Throws<UsageException>(() => two.SinglePositional("prompt")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_flag_with_a_value_and_an_option_without_one_are_usage_errors()
    {
        Assert.Contains("--all takes no value", Assert.Throws<UsageException>(() => Parse("--all=yes")).Message, StringComparison.Ordinal);
        Assert.Contains("--model needs a value", Assert.Throws<UsageException>(() => Parse("--model")).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--top-p", "0", "(0, 1]")]
    [InlineData("--top-p", "1.5", "(0, 1]")]
    [InlineData("--temperature", "-1", ">= 0")]
    [InlineData("--temperature", "NaN", ">= 0")]
    [InlineData("--temperature", "warm", ">= 0")]
    public void Numbers_out_of_range_name_the_option_and_its_range(string option, string value, string range)
    {
        CommandArguments a = Parse(option, value);
        UsageException e = Assert.Throws<UsageException>(() => a.Float(
            option[2..], 1, 0, option == "--top-p" ? 1 : float.MaxValue, minExclusive: option == "--top-p"));
        Assert.Contains(option, e.Message, StringComparison.Ordinal);
        Assert.Contains(range, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Integers_and_lists_are_checked()
    {
        Assert.Equal(7, Parse("--n", "7").Int("n", 0, 1, 10));
        Assert.Equal(3, Parse().Int("n", 3, 1, 10));
        Assert.Throws<UsageException>(() => Parse("--n", "11").Int("n", 0, 1, 10));
        Assert.Throws<UsageException>(() => Parse("--n", "1.5").Int("n", 0, 1, 10));
        Assert.Equal([1, 2, 30, 4], Parse("--ban", "1, 2,30", "--ban", "4").IntList("ban"));
        Assert.Throws<UsageException>(() => Parse("--ban", "1,-2").IntList("ban"));
        Assert.Equal(-5L, Parse("--seed", "-5").Long("seed"));
        Assert.Null(Parse().Long("seed"));
    }

    [Fact]
    public void Environment_variables_stand_in_for_missing_options_only()
    {
        var env = new Dictionary<string, string> { ["RWKV7_MODEL"] = "from-env.pth", ["EMPTY"] = "" };
        CommandArguments none = CommandArguments.Parse("info", [], Flags, env.GetValueOrDefault);
        Assert.Equal("from-env.pth", none.Required("model", "RWKV7_MODEL"));

        CommandArguments given = CommandArguments.Parse("info", ["--model", "given.pth"], Flags, env.GetValueOrDefault);
        Assert.Equal("given.pth", given.Required("model", "RWKV7_MODEL"));

        CommandArguments empty = CommandArguments.Parse("info", [], Flags, env.GetValueOrDefault);
        UsageException e = Assert.Throws<UsageException>(() => empty.Required("model", "EMPTY"));
        Assert.Equal("info needs --model (or the EMPTY environment variable)", e.Message);
    }
}
