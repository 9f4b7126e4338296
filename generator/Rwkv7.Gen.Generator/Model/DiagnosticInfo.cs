using System;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Rwkv7.Gen.Generator.Model
{
    /// <summary>
    /// A diagnostic as plain, equatable data: the descriptor's id, its message argument and a location rebuilt from
    /// file path and span when it is reported (no syntax tree is held).
    /// </summary>
    internal sealed record DiagnosticInfo(string Id, string Message, string FilePath, int Start, int Length, int Line, int Column)
    {
        public Diagnostic ToDiagnostic()
        {
            DiagnosticDescriptor descriptor = DiagnosticDescriptors.ById(Id);
            var position = new LinePosition(Line, Column);
            Location location = Location.Create(
                FilePath, new TextSpan(Start, Length), new LinePositionSpan(position, new LinePosition(Line, Column + Length)));
            return Diagnostic.Create(descriptor, location, Message);
        }
    }

    /// <summary>Where a value was written in a shape file (zero-based line and column).</summary>
    internal readonly record struct TextPosition(int Start, int Length, int Line, int Column);

    /// <summary>
    /// The result of parsing one shape file: a spec when it is valid, the diagnostics it raised, and where its model
    /// name and its type name were written (the type at the model name when it is derived from it), for diagnostics
    /// that only arise against other files.
    /// </summary>
    internal sealed record ParsedShapeFile(
        string FilePath, ShapeSpec? Spec, EquatableArray<DiagnosticInfo> Diagnostics, TextPosition ModelAt, TextPosition TypeAt);
}
