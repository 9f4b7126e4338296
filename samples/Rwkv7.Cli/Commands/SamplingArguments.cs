using System.CommandLine;
using System.Globalization;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen.Sampling;

namespace Rwkv7.Cli.Commands;

/// <summary>
/// The sampling options <c>generate</c> and <c>chat</c> share, over a command's own defaults (which the help shows).
/// One instance holds the options of one command line.
/// </summary>
internal sealed class SamplingArguments(SamplingOptions defaults)
{
    private readonly Option<float> _temperature = CliOptions.Float(
        "--temperature", "T", "softmax temperature; 0 always takes the most likely token", defaults.Temperature, 0);

    private readonly Option<float> _topP = CliOptions.Float(
        "--top-p", "P", "draw from the most likely tokens whose probabilities add up to P", defaults.TopP, 0, 1, minExclusive: true);

    private readonly Option<int> _topK = CliOptions.Int("--top-k", "K", "draw from at most K most likely tokens; 0 turns it off", defaults.TopK, 0);

    private readonly Option<float> _minP = CliOptions.Float(
        "--min-p", "P", "drop tokens less likely than P times the most likely one; 0 turns it off", defaults.MinP, 0, 1);

    private readonly Option<float> _presence = CliOptions.Float(
        "--presence", "A", "subtracted once from the logit of every token already generated", defaults.PresencePenalty);

    private readonly Option<float> _frequency = CliOptions.Float(
        "--frequency", "A", "subtracted from a generated token's logit per (decayed) occurrence", defaults.FrequencyPenalty);

    private readonly Option<float> _decay = CliOptions.Float(
        "--decay", "D", "every generated token multiplies the earlier occurrence counts by D", defaults.PenaltyDecay, 0, 1);

    private readonly Option<int[]> _ban = CliOptions.IntList("--ban", "ID,...", "token ids never to generate; may be repeated");

    private readonly Option<long?> _seed = CliOptions.OptionalLong(
        "--seed", "N", "seed of the sampler: the same seed, prompt and options give the same text (default: a random seed)");

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { _temperature, _topP, _topK, _minP, _presence, _frequency, _decay, _ban, _seed })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>Reads the options; what is not given keeps its default.</summary>
    public SamplingOptions Read(ParseResult parse) => defaults with
    {
        Temperature = parse.GetValue(_temperature),
        TopP = parse.GetValue(_topP),
        TopK = parse.GetValue(_topK),
        MinP = parse.GetValue(_minP),
        PresencePenalty = parse.GetValue(_presence),
        FrequencyPenalty = parse.GetValue(_frequency),
        PenaltyDecay = parse.GetValue(_decay),
        BannedTokens = [.. defaults.BannedTokens, .. parse.GetValue(_ban) ?? []],
        Seed = parse.GetValue(_seed) ?? defaults.Seed,
    };

    /// <summary>Checks the banned ids against the model's vocabulary (known only once it is loaded).</summary>
    public static void CheckBans(SamplingOptions options, int vocab)
    {
        foreach (int token in options.BannedTokens)
        {
            if (token >= vocab)
            {
                throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--ban {token} is outside the model's vocabulary [0, {vocab})"));
            }
        }
    }
}
