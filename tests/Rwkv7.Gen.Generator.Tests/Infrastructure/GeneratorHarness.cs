using System.Collections.Immutable;
using System.Numerics.Tensors;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Rwkv7.Gen.Generator.Tests.Infrastructure;

/// <summary>
/// Runs <see cref="Rwkv7ModelGenerator"/> the way the compiler does: a <see cref="CSharpGeneratorDriver"/> over a
/// compilation that references the framework and the runtime, with shape files as in-memory AdditionalFiles and
/// step tracking on, so tests can read what each pipeline step did.
/// </summary>
internal static class GeneratorHarness
{
    /// <summary>The warning level of the repository's projects: the SDK's default for net10.0 (its major version).</summary>
    public const int WarningLevel = 10;

    private static readonly Lazy<ImmutableArray<MetadataReference>> LazyReferences = new(LoadReferences);

    /// <summary>Parse options as the repository builds: latest language, XML doc comments checked, strict mode.</summary>
    public static CSharpParseOptions ParseOptions { get; } = new CSharpParseOptions(
            LanguageVersion.Latest, DocumentationMode.Diagnose)
        .WithFeatures([new KeyValuePair<string, string>("strict", "true")]);

    /// <summary>A library with nullable enabled, at the repository's warning level.</summary>
    public static CSharpCompilationOptions CompilationOptions { get; } = new CSharpCompilationOptions(
        OutputKind.DynamicallyLinkedLibrary,
        nullableContextOptions: NullableContextOptions.Enable,
        warningLevel: WarningLevel,
        deterministic: true);

    /// <summary>
    /// The framework (the trusted platform assemblies of this test process), the runtime and
    /// System.Numerics.Tensors: what a project that uses the generator compiles against.
    /// </summary>
    public static ImmutableArray<MetadataReference> References => LazyReferences.Value;

    /// <summary>
    /// An empty assembly named like the GPU runtime: referencing it turns on the GPU output (the generator looks at
    /// referenced assembly names only), without ILGPU in the test's references. The GPU source is then text to read,
    /// not to compile here; Rwkv7.Gen.Gpu.Tests compiles and runs it.
    /// </summary>
    public static MetadataReference GpuAssemblyStandIn { get; } =
        CSharpCompilation.Create(Rwkv7ModelGenerator.GpuAssemblyName, options: new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary)).ToMetadataReference();

    /// <summary>A compilation of <paramref name="sources"/> (may be none) with the harness's options and references.</summary>
    public static CSharpCompilation CreateCompilation(params string[] sources) =>
        CSharpCompilation.Create(
            "GeneratorTestAssembly",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Source{i}.cs")),
            References,
            CompilationOptions);

    /// <summary>A fresh driver holding the generator and <paramref name="shapeFiles"/>, tracking every step.</summary>
    public static GeneratorDriver CreateDriver(params AdditionalText[] shapeFiles) =>
        CSharpGeneratorDriver.Create(
            [new Rwkv7ModelGenerator().AsSourceGenerator()],
            additionalTexts: shapeFiles,
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs a fresh driver over an empty compilation.</summary>
    public static GeneratorRun Run(params AdditionalText[] shapeFiles) => Run(CreateDriver(shapeFiles), CreateCompilation());

    /// <summary>
    /// Runs <paramref name="driver"/> (which keeps the previous run's state, for incremental tests) over
    /// <paramref name="compilation"/>. Fails when the generator threw: no input may crash it.
    /// </summary>
    public static GeneratorRun Run(GeneratorDriver driver, Compilation compilation)
    {
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        GeneratorDriverRunResult result = driver.GetRunResult();
        Assert.Single(result.Results);
        Exception? crash = result.Results[0].Exception;
        Assert.True(crash is null, $"The generator threw: {crash}");
        return new GeneratorRun(driver, compilation, output, diagnostics, result);
    }

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        // Keyed by file name, so the runtime and Tensors (also among the trusted assemblies) appear once.
        var paths = new SortedDictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string trusted = AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string
            ?? throw new InvalidOperationException("TRUSTED_PLATFORM_ASSEMBLIES is not set.");
        foreach (string path in trusted.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            paths[Path.GetFileName(path)] = path;
        }

        foreach (Type anchor in new[] { typeof(ModelShape), typeof(TensorPrimitives) })
        {
            string path = anchor.Assembly.Location;
            paths[Path.GetFileName(path)] = path;
        }

        return [.. paths.Values.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    }
}

/// <summary>One run of the generator: the driver after it (for a next, incremental run), input and output compilations, results.</summary>
internal sealed record GeneratorRun(
    GeneratorDriver Driver, Compilation Input, Compilation Output, ImmutableArray<Diagnostic> DriverDiagnostics, GeneratorDriverRunResult RunResult)
{
    private ImmutableArray<Diagnostic>? _compilerDiagnostics;

    /// <summary>The generator's own result (the driver holds only this generator).</summary>
    public GeneratorRunResult Result => RunResult.Results[0];

    /// <summary>Diagnostics the generator reported.</summary>
    public ImmutableArray<Diagnostic> Diagnostics => Result.Diagnostics;

    /// <summary>Generated files, in the order the generator added them.</summary>
    public ImmutableArray<GeneratedSourceResult> Sources => Result.GeneratedSources;

    /// <summary>Hint names of the generated files, sorted.</summary>
    public IReadOnlyList<string> HintNames => [.. Sources.Select(s => s.HintName).Order(StringComparer.Ordinal)];

    /// <summary>The text of the generated file <paramref name="hintName"/>.</summary>
    public string Source(string hintName)
    {
        GeneratedSourceResult match = Assert.Single(Sources, s => s.HintName == hintName);
        return match.SourceText.ToString();
    }

    /// <summary>
    /// Errors and warnings of the output compilation (generated code included), generator diagnostics excluded.
    /// Computed on first use (binding every generated method takes a while).
    /// </summary>
    public ImmutableArray<Diagnostic> CompilerDiagnostics => _compilerDiagnostics ??=
        [.. Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning && !d.Id.StartsWith("RWKV", StringComparison.Ordinal))];

    /// <summary>The generator's diagnostics located in <paramref name="file"/>.</summary>
    public IEnumerable<Diagnostic> DiagnosticsFor(AdditionalText file) =>
        Diagnostics.Where(d => d.Location.GetLineSpan().Path == file.Path);

    /// <summary>The generated file named <paramref name="hintName"/>, if there is one.</summary>
    public bool TryGetSource(string hintName, out GeneratedSourceResult source)
    {
        source = Sources.FirstOrDefault(s => s.HintName == hintName);
        return source.HintName is not null;
    }

    /// <summary>Compiler errors and warnings located in one generated file.</summary>
    public IEnumerable<Diagnostic> CompilerDiagnosticsIn(GeneratedSourceResult source) =>
        CompilerDiagnostics.Where(d => d.Location.SourceTree?.FilePath == source.SyntaxTree.FilePath);

    /// <summary>The steps recorded under a tracking name (<see cref="Rwkv7ModelGenerator.TrackingNames"/>).</summary>
    public ImmutableArray<IncrementalGeneratorRunStep> Steps(string trackingName) =>
        Result.TrackedSteps.TryGetValue(trackingName, out ImmutableArray<IncrementalGeneratorRunStep> steps)
            ? steps
            : throw new Xunit.Sdk.XunitException($"No step named {trackingName}; recorded: {string.Join(", ", Result.TrackedSteps.Keys)}");

    /// <summary>Renders diagnostics one per line, for assertion messages.</summary>
    public static string Describe(IEnumerable<Diagnostic> diagnostics) => string.Join("\n", diagnostics.Select(d => d.ToString()));
}
