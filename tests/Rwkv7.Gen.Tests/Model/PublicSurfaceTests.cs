using System.ComponentModel;
using System.Reflection;
using System.Text.RegularExpressions;
using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Model;

/// <summary>
/// What the runtime assembly promises, beyond what PublicApiAnalyzers already enforces against PublicAPI.Shipped.txt:
/// the support types generated code needs stay hidden, the A/B trial switch is not shipped, and the newcomer's map
/// (docs/architecture.md) states the public type count the assembly really has.
/// </summary>
public sealed class PublicSurfaceTests
{
    private static readonly Assembly Runtime = typeof(RwkvModel).Assembly;

    private static Type[] PublicTypes() => [.. Runtime.GetExportedTypes()];

    [Fact]
    public void The_experiment_switch_is_compiled_only_into_trial_builds()
    {
        Assert.Null(Runtime.GetType("Rwkv7.Gen.Benchmarking.Experiment"));
    }

    [Fact]
    public void Every_public_type_of_the_support_namespace_is_hidden_from_IntelliSense()
    {
        Type[] support = [.. PublicTypes().Where(t => t.Namespace == "Rwkv7.Gen.Specialized")];
        Assert.NotEmpty(support);
        Assert.All(support, t =>
        {
            EditorBrowsableAttribute? hidden = t.GetCustomAttribute<EditorBrowsableAttribute>();
            Assert.True(hidden?.State == EditorBrowsableState.Never, $"{t.FullName} is public in the support namespace but not [EditorBrowsable(Never)]");
        });
    }

    [Fact]
    public void The_architecture_map_states_the_real_public_type_count()
    {
        string map = File.ReadAllText(Path.Combine(Fixtures.RepositoryRoot, "docs", "architecture.md"));
        Match stated = Regex.Match(map, @"Public types, by namespace \((\d+) in all, (\d+) of them hidden\)");
        Assert.True(stated.Success, "docs/architecture.md no longer states the public type count");

        Type[] types = [.. PublicTypes().Where(t => !t.IsNested)];
        int hidden = types.Count(t => t.GetCustomAttribute<EditorBrowsableAttribute>()?.State == EditorBrowsableState.Never);
        Assert.Equal(types.Length, int.Parse(stated.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(hidden, int.Parse(stated.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));

        // Every public top-level type is named in the map's table.
        Assert.All(types, t => Assert.Contains($"`{Regex.Replace(t.Name, @"`\d+$", "")}", map, StringComparison.Ordinal));
    }
}
