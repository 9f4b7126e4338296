using System.CommandLine;
using Rwkv7.Cli.CommandLine;

namespace Rwkv7.Cli.Tests.CommandLine;

/// <summary>The option factories on their own, parsed by a one-option command.</summary>
public sealed class CliOptionsTests
{
    private static ParseResult Parse(Option option, params string[] args) => new Command("test") { option }.Parse(args);

    [Theory]
    [InlineData("on", true)]
    [InlineData("off", false)]
    public void On_and_off_are_both_read(string word, bool on)
    {
        OnOff expected = on ? OnOff.On : OnOff.Off;
        Option<OnOff?> option = CliOptions.OnOff("--switch", "a setting");
        ParseResult parse = Parse(option, "--switch", word);
        Assert.Empty(parse.Errors);
        Assert.Equal(expected, parse.GetValue(option));
        Assert.Null(Parse(option).GetValue(option));
        Assert.Equal("--switch must be on or off, not 'yes'", Assert.Single(Parse(option, "--switch", "yes").Errors).Message);
    }

    [Fact]
    public void A_choice_of_bools_is_refused_when_it_is_made()
    {
        // The parser only gives "true" or "false" to a bool option, so such a choice would never see its words.
        Assert.Throws<ArgumentException>(() => CliOptions.Choice<bool?>("--x", "x", [("on", true), ("off", false)]));
    }

    [Fact]
    public void Integers_keep_their_default_and_range()
    {
        Option<int> option = CliOptions.Int("--n", "N", "a count", 3, 1, 10);
        Assert.Equal(3, Parse(option).GetValue(option));
        Assert.Equal(7, Parse(option, "--n", "7").GetValue(option));
        Assert.Equal("--n must be an integer in [1, 10], not '11'", Assert.Single(Parse(option, "--n", "11").Errors).Message);
    }

    [Fact]
    public void Lists_gather_every_occurrence_in_order()
    {
        Option<int[]> option = CliOptions.IntList("--ban", "ID,...", "ids");
        Assert.Equal([1, 2, 30, 4], Parse(option, "--ban", "1, 2,30", "--ban", "4").GetValue(option)!);
        Assert.Empty(Parse(option).GetValue(option)!);

        Option<string[]> texts = CliOptions.Repeated("--stop", "TEXT", "texts");
        Assert.Equal(["a", "-b"], Parse(texts, "--stop", "a", "--stop", "-b").GetValue(texts)!);
    }
}
