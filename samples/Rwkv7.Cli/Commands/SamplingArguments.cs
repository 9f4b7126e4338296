using System.Globalization;
using Rwkv7.Cli.CommandLine;
using Rwkv7.Gen.Sampling;

namespace Rwkv7.Cli.Commands;

/// <summary>The sampling options <c>generate</c> and <c>chat</c> share, read over a command's defaults.</summary>
internal static class SamplingArguments
{
    public const string Usage =
        "[--temperature T] [--top-p P] [--top-k K] [--min-p P] [--presence A] [--frequency A] [--decay D] [--ban ID,...] [--seed N]";

    /// <summary>Reads the options; what is not given keeps its value in <paramref name="defaults"/>.</summary>
    public static SamplingOptions Parse(CommandArguments args, SamplingOptions defaults)
    {
        int[] banned = args.IntList("ban");
        return defaults with
        {
            Temperature = args.Float("temperature", defaults.Temperature, 0),
            TopP = args.Float("top-p", defaults.TopP, 0, 1, minExclusive: true),
            TopK = args.Int("top-k", defaults.TopK, 0),
            MinP = args.Float("min-p", defaults.MinP, 0, 1),
            PresencePenalty = args.Float("presence", defaults.PresencePenalty),
            FrequencyPenalty = args.Float("frequency", defaults.FrequencyPenalty),
            PenaltyDecay = args.Float("decay", defaults.PenaltyDecay, 0, 1),
            BannedTokens = [.. defaults.BannedTokens, .. banned],
            Seed = args.Long("seed") ?? defaults.Seed,
        };
    }

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
