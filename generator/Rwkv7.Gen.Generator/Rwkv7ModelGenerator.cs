using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using Rwkv7.Gen.Generator.Emit;
using Rwkv7.Gen.Generator.Model;
using Rwkv7.Gen.Generator.Planning;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator
{
    /// <summary>
    /// Turns every <c>*.rwkv7</c> shape file among a project's AdditionalFiles into a model type whose kernels are
    /// specialized for that shape's layer widths.
    /// </summary>
    /// <remarks>
    /// Pipeline: shape files → parse each (<see cref="TrackingNames.ParsedShapes"/>) → gather all, to detect two files
    /// claiming one model (<see cref="TrackingNames.AllShapes"/>) → valid, unique specs (<see cref="TrackingNames.ValidShapes"/>)
    /// → a kernel plan each (<see cref="TrackingNames.Plans"/>, <see cref="KernelPlanner"/>) → one source file each, printed
    /// from the plan (<see cref="ModelEmitter"/>, and <see cref="GpuEmitter"/> for projects that reference the GPU
    /// assembly). Parsing is per file, so editing one shape file re-parses only that file, and a comment-only edit yields
    /// an equal spec and an equal plan, leaving the emitted source cached.
    /// </remarks>
    [Generator(LanguageNames.CSharp)]
    public sealed partial class Rwkv7ModelGenerator : IIncrementalGenerator
    {
        /// <summary>File extension of shape files.</summary>
        public const string ShapeFileExtension = ".rwkv7";

        /// <summary>Names of the pipeline steps, for tests of incremental caching.</summary>
        public static class TrackingNames
        {
            public const string ShapeFiles = nameof(ShapeFiles);
            public const string ParsedShapes = nameof(ParsedShapes);
            public const string AllShapes = nameof(AllShapes);
            public const string ValidShapes = nameof(ValidShapes);
            public const string Plans = nameof(Plans);
            public const string Diagnostics = nameof(Diagnostics);
            public const string GpuReference = nameof(GpuReference);
        }

        /// <summary>
        /// Name of the GPU runtime assembly: a project that references it also gets each shape's ILGPU kernels
        /// (<c>&lt;TypeName&gt;.Gpu.g.cs</c>).
        /// </summary>
        public const string GpuAssemblyName = "Rwkv7.Gen.Gpu";

        /// <inheritdoc />
        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            IncrementalValuesProvider<AdditionalText> files = context.AdditionalTextsProvider
                .Where(static f => f.Path.EndsWith(ShapeFileExtension, StringComparison.OrdinalIgnoreCase))
                .WithTrackingName(TrackingNames.ShapeFiles);

            IncrementalValuesProvider<ParsedShapeFile> parsed = files
                .Select(static (file, ct) => Parse(file, ct))
                .WithTrackingName(TrackingNames.ParsedShapes);

            IncrementalValueProvider<EquatableArray<ParsedShapeFile>> all = parsed
                .Collect()
                .Select(static (items, _) => SortByPath(items))
                .WithTrackingName(TrackingNames.AllShapes);

            IncrementalValuesProvider<ShapeSpec> valid = all
                .SelectMany(static (items, _) => ValidUniqueSpecs(items, null))
                .WithTrackingName(TrackingNames.ValidShapes);

            IncrementalValueProvider<EquatableArray<DiagnosticInfo>> diagnostics = all
                .Select(static (items, _) => CollectDiagnostics(items))
                .WithTrackingName(TrackingNames.Diagnostics);

            context.RegisterSourceOutput(diagnostics, static (spc, items) =>
            {
                foreach (DiagnosticInfo d in items)
                {
                    spc.ReportDiagnostic(d.ToDiagnostic());
                }
            });

            IncrementalValuesProvider<KernelPlan> plans = valid
                .Select(static (spec, _) => KernelPlanner.Plan(spec))
                .WithTrackingName(TrackingNames.Plans);

            // Named after the full type name: ValidUniqueSpecs keeps those unique ignoring case, as hint names must be.
            context.RegisterSourceOutput(plans, static (spc, plan) =>
                spc.AddSource(plan.Shape.FullTypeName + ".g.cs", SourceText.From(ModelEmitter.Emit(plan), System.Text.Encoding.UTF8)));

            // GPU kernels only for projects that reference the GPU assembly. The reference is reduced to a bool at once
            // (the Compilation is not carried), so the GPU output stays cached until the answer or the spec changes.
            IncrementalValueProvider<bool> gpu = context.CompilationProvider
                .Select(static (compilation, _) => ReferencesGpuAssembly(compilation))
                .WithTrackingName(TrackingNames.GpuReference);

            context.RegisterSourceOutput(plans.Combine(gpu), static (spc, pair) =>
            {
                if (pair.Right)
                {
                    spc.AddSource(pair.Left.Shape.FullTypeName + ".Gpu.g.cs", SourceText.From(GpuEmitter.Emit(pair.Left), System.Text.Encoding.UTF8));
                }
            });
        }

        private static bool ReferencesGpuAssembly(Compilation compilation)
        {
            foreach (AssemblyIdentity identity in compilation.ReferencedAssemblyNames)
            {
                if (string.Equals(identity.Name, GpuAssemblyName, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }

        private static ParsedShapeFile Parse(AdditionalText file, CancellationToken cancellationToken)
        {
            SourceText? text = file.GetText(cancellationToken);
            string fileName = Path.GetFileName(file.Path);
            ShapeFile shape = ShapeFileParser.Parse(text?.ToString() ?? "", ModelEmitter.ReservedTypeNames);
            var diagnostics = new List<DiagnosticInfo>();
            foreach (ShapeFileError e in shape.Errors)
            {
                diagnostics.Add(new DiagnosticInfo(
                    DiagnosticDescriptors.For(e.Kind).Id, $"{fileName}: {e.Message}", file.Path, e.Start, e.Length, e.Line, e.Column));
            }

            ShapeSpec? spec = shape.IsValid
                ? new ShapeSpec(fileName, shape.Model, shape.Namespace, shape.TypeName, shape.Numbers, shape.WeightTypes)
                : null;
            TextPosition modelAt = At(shape, "model");
            TextPosition typeAt = shape.ValuePositions.ContainsKey("type") ? At(shape, "type") : modelAt;
            return new ParsedShapeFile(file.Path, spec, diagnostics.ToEquatableArray(), modelAt, typeAt);
        }

        private static TextPosition At(ShapeFile shape, string key)
        {
            return shape.ValuePositions.TryGetValue(key, out (int Line, int Column, int Start, int Length) p)
                ? new TextPosition(p.Start, p.Length, p.Line, p.Column)
                : default;
        }

        private static EquatableArray<ParsedShapeFile> SortByPath(ImmutableArray<ParsedShapeFile> items)
        {
            var list = new List<ParsedShapeFile>(items);
            list.Sort(static (a, b) => string.CompareOrdinal(a.FilePath, b.FilePath));
            return list.ToEquatableArray();
        }

        /// <summary>
        /// Valid specs, skipping any whose model name or type name was already claimed by an earlier file (in path
        /// order); each skipped file gets a diagnostic in <paramref name="duplicates"/> when it is not null.
        /// </summary>
        private static ImmutableArray<ShapeSpec> ValidUniqueSpecs(EquatableArray<ParsedShapeFile> items, List<DiagnosticInfo>? duplicates)
        {
            var result = ImmutableArray.CreateBuilder<ShapeSpec>();
            var models = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            // Types that differ only in case are legal C#, but their generated files would collide: hint names are
            // compared ignoring case, and so are file names on Windows and macOS.
            var types = new Dictionary<string, ShapeSpec>(StringComparer.OrdinalIgnoreCase);
            foreach (ParsedShapeFile item in items)
            {
                if (item.Spec is not { } spec)
                {
                    continue;
                }

                string? clash = models.TryGetValue(spec.Model, out string? other) ? $"model name '{spec.Model}' is already declared by {other}"
                    : types.TryGetValue(spec.FullTypeName, out ShapeSpec? first)
                        ? (first.FullTypeName == spec.FullTypeName
                            ? $"type '{spec.FullTypeName}' is already generated from {first.FileName}"
                            : $"type '{spec.FullTypeName}' differs only in case from '{first.FullTypeName}', generated from {first.FileName}")
                    : null;
                if (clash is not null)
                {
                    // At the value that clashes: the model name, or the type name (where it was derived, the model name).
                    TextPosition at = models.ContainsKey(spec.Model) ? item.ModelAt : item.TypeAt;
                    duplicates?.Add(new DiagnosticInfo(
                        DiagnosticDescriptors.DuplicateModel.Id, $"{spec.FileName}: {clash}; no code is generated for this file", item.FilePath, at.Start, at.Length, at.Line, at.Column));
                    continue;
                }

                models[spec.Model] = spec.FileName;
                types[spec.FullTypeName] = spec;
                result.Add(spec);
            }

            return result.ToImmutable();
        }

        private static EquatableArray<DiagnosticInfo> CollectDiagnostics(EquatableArray<ParsedShapeFile> items)
        {
            var all = new List<DiagnosticInfo>();
            foreach (ParsedShapeFile item in items)
            {
                all.AddRange(item.Diagnostics);
            }

            ValidUniqueSpecs(items, all);
            return all.ToEquatableArray();
        }
    }
}
