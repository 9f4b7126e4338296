using System;
using Microsoft.CodeAnalysis;
using Rwkv7.Gen.Shapes;

namespace Rwkv7.Gen.Generator
{
    /// <summary>Every diagnostic the generator reports. Ids are tracked in AnalyzerReleases.*.md.</summary>
    internal static class DiagnosticDescriptors
    {
        private const string Category = "Rwkv7.Gen";

        public static readonly DiagnosticDescriptor MalformedLine = Error("RWKV001", "Malformed shape-file line");
        public static readonly DiagnosticDescriptor UnknownKey = Error("RWKV002", "Unknown shape-file key");
        public static readonly DiagnosticDescriptor DuplicateKey = Error("RWKV003", "Duplicate shape-file key");
        public static readonly DiagnosticDescriptor MissingKey = Error("RWKV004", "Missing shape-file key");
        public static readonly DiagnosticDescriptor NotPositiveInteger = Error("RWKV005", "Shape value is not a positive integer");
        public static readonly DiagnosticDescriptor UnsupportedHeadSize = Error("RWKV006", "Unsupported head size");
        public static readonly DiagnosticDescriptor EmbeddingNotMultipleOfHeadSize = Error("RWKV007", "Embedding is not a multiple of the head size");
        public static readonly DiagnosticDescriptor NotMultipleOfStep = Error("RWKV008", "Width is not a multiple of the kernel step");
        public static readonly DiagnosticDescriptor InvalidName = Error("RWKV009", "Invalid model, type or namespace name");
        public static readonly DiagnosticDescriptor DuplicateModel = Error("RWKV010", "Two shape files declare the same model or type");
        public static readonly DiagnosticDescriptor InvalidWeightTypes = Error("RWKV011", "Invalid weight-type list");

        public static DiagnosticDescriptor For(ShapeFileErrorKind kind)
        {
            switch (kind)
            {
                case ShapeFileErrorKind.MalformedLine: return MalformedLine;
                case ShapeFileErrorKind.UnknownKey: return UnknownKey;
                case ShapeFileErrorKind.DuplicateKey: return DuplicateKey;
                case ShapeFileErrorKind.MissingKey: return MissingKey;
                case ShapeFileErrorKind.NotPositiveInteger: return NotPositiveInteger;
                case ShapeFileErrorKind.UnsupportedHeadSize: return UnsupportedHeadSize;
                case ShapeFileErrorKind.EmbeddingNotMultipleOfHeadSize: return EmbeddingNotMultipleOfHeadSize;
                case ShapeFileErrorKind.NotMultipleOfStep: return NotMultipleOfStep;
                case ShapeFileErrorKind.InvalidName: return InvalidName;
                case ShapeFileErrorKind.InvalidWeightTypes: return InvalidWeightTypes;
                default: throw new ArgumentOutOfRangeException(nameof(kind));
            }
        }

        public static DiagnosticDescriptor ById(string id)
        {
            foreach (DiagnosticDescriptor d in All)
            {
                if (d.Id == id)
                {
                    return d;
                }
            }

            throw new ArgumentException("Unknown diagnostic id " + id, nameof(id));
        }

        public static readonly DiagnosticDescriptor[] All =
        {
            MalformedLine, UnknownKey, DuplicateKey, MissingKey, NotPositiveInteger, UnsupportedHeadSize,
            EmbeddingNotMultipleOfHeadSize, NotMultipleOfStep, InvalidName, DuplicateModel, InvalidWeightTypes,
        };

        private static DiagnosticDescriptor Error(string id, string title) =>
            new DiagnosticDescriptor(id, title, "{0}", Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
    }
}
