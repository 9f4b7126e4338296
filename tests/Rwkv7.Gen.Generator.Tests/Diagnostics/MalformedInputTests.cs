using Microsoft.CodeAnalysis;
using Rwkv7.Gen.Generator.Tests.Infrastructure;

namespace Rwkv7.Gen.Generator.Tests.Diagnostics;

/// <summary>
/// A malformed shape file must never crash the generator: it yields errors inside the file, or code, never both.
/// </summary>
public class MalformedInputTests
{
    /// <summary>
    /// Fixed-seed mutations of a valid file (a line replaced, duplicated, cut or spliced with junk), each run through
    /// a fresh generator; the harness fails the test if the generator throws.
    /// </summary>
    [Fact]
    public void MutatedFilesYieldErrorsInsideTheFileOrCode_NeverBoth_NeverACrash()
    {
        string[] lines = ShapeTexts.Valid("mutant", type: "Mutant").TrimEnd('\n').Split('\n');
        string[] junk =
        [
            "", "=", "= 64", "layers", "layers = ", "layers = 0", "head_size = 128", "embedding = 96", "ffn = 33", "type = class",
            "type = Unsafe", "namespace = A..B", "model = two words", "# comment", "vocab = 1_2_8", "gate_rank = 99999999999",
            "\u2028", "model = mutant", "colour = red", "\t\t", "type=Mutant2",
        ];
        var random = new Random(7);
        int generated = 0, rejected = 0;
        for (int n = 0; n < 300; n++)
        {
            var mutated = new List<string>(lines);
            for (int edits = random.Next(1, 4); edits > 0; edits--)
            {
                int at = random.Next(mutated.Count + 1);
                switch (random.Next(4))
                {
                    case 0 when at < mutated.Count: mutated[at] = junk[random.Next(junk.Length)]; break;
                    case 1 when at < mutated.Count: mutated.Insert(at, mutated[at]); break;
                    case 2 when at < mutated.Count: mutated.RemoveAt(at); break;
                    default: mutated.Insert(at, junk[random.Next(junk.Length)]); break;
                }
            }

            string text = string.Join(random.Next(2) == 0 ? "\n" : "\r\n", mutated);
            InMemoryAdditionalText file = ShapeTexts.File("mutant.rwkv7", text);
            GeneratorRun run = GeneratorHarness.Run(file);

            string where = $"mutation #{n}:\n{text}";
            foreach (Diagnostic d in run.Diagnostics)
            {
                Assert.True(d.Id.StartsWith("RWKV", StringComparison.Ordinal) && d.Severity == DiagnosticSeverity.Error, where);
                Assert.True(d.Location.GetLineSpan().Path == file.Path && d.Location.SourceSpan.End <= text.Length, $"{where}\n{d}");
            }

            Assert.True(run.Diagnostics.IsEmpty != run.Sources.IsEmpty, $"{where}\n{GeneratorRun.Describe(run.Diagnostics)}");
            if (run.Diagnostics.IsEmpty)
            {
                generated++;
            }
            else
            {
                rejected++;
            }
        }

        // Both outcomes occurred, so the property was exercised both ways.
        Assert.True(generated > 10 && rejected > 10, $"{generated} generated, {rejected} rejected");
    }
}
