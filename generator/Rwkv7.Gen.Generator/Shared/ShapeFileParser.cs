// Shared by the source generator (netstandard2.0) and the runtime (net10.0), so that both read shape files
// the same way: keep this file free of APIs the two do not share.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Rwkv7.Gen.Shapes
{
    /// <summary>
    /// Parses the shape-file format specified in <c>shapes/README.md</c>: UTF-8 text, one <c>key = value</c> per
    /// line, <c>#</c> starts a comment, blank lines ignored, keys lowercase.
    /// </summary>
    internal static class ShapeFileParser
    {
        /// <summary>Namespace of generated types when the file names none.</summary>
        public const string DefaultNamespace = "Rwkv7.Gen.Models";

        /// <summary>The only head size the kernels are written for.</summary>
        public const int HeadSize = ModelMath.HeadSize;

        /// <summary>FFN widths and LoRA ranks must be multiples of this: one bf16 step of the widest kernels.</summary>
        public const int KernelStep = 32;

        private static readonly string[] NumberKeys =
        {
            "layers", "embedding", "head_size", "vocab", "ffn", "decay_rank", "iclr_rank", "value_rank", "gate_rank",
        };

        private static readonly string[] NameKeys = { "model", "type", "namespace" };

        /// <summary>Keys whose value is a comma-separated list.</summary>
        private static readonly string[] ListKeys = { "weights" };

        /// <summary>C#'s reserved keywords: not usable as a type name or namespace segment without '@'.</summary>
        private static readonly string[] Keywords =
        {
            "__arglist", "__makeref", "__reftype", "__refvalue", "abstract", "as", "base", "bool", "break", "byte", "case",
            "catch", "char", "checked", "class", "const", "continue", "decimal", "default", "delegate", "do", "double",
            "else", "enum", "event", "explicit", "extern", "false", "finally", "fixed", "float", "for", "foreach", "goto",
            "if", "implicit", "in", "int", "interface", "internal", "is", "lock", "long", "namespace", "new", "null",
            "object", "operator", "out", "override", "params", "private", "protected", "public", "readonly", "ref",
            "return", "sbyte", "sealed", "short", "sizeof", "stackalloc", "static", "string", "struct", "switch", "this",
            "throw", "true", "try", "typeof", "uint", "ulong", "unchecked", "unsafe", "ushort", "using", "virtual", "void",
            "volatile", "while",
        };

        /// <summary>Largest value accepted for each numeric key (far above any released model; rules out absurd input).</summary>
        private static int Limit(string key)
        {
            switch (key)
            {
                case "layers": return 4096;
                case "embedding": return 65536;
                case "vocab": return 16777216;
                case "ffn": return 262144;
                case "head_size": return 4096;
                default: return 8192; // LoRA ranks
            }
        }

        /// <summary>Parses a shape file's text.</summary>
        /// <param name="text">The whole file.</param>
        /// <param name="reservedTypeNames">
        /// Names the generated type may not have (the source generator passes the names its code refers to); a
        /// type name among them, given or derived from the model name, is reported where it was written.
        /// </param>
        public static ShapeFile Parse(string text, string[]? reservedTypeNames = null)
        {
            var file = new ShapeFile();
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            Dictionary<string, (int Line, int Column, int Start, int Length)> positions = file.ValuePositions;
            int lineNumber = 0;
            int lineStart = 0;
            while (lineStart <= text.Length)
            {
                int lineEnd = text.IndexOf('\n', lineStart);
                if (lineEnd < 0)
                {
                    lineEnd = text.Length;
                }

                ParseLine(file, text, lineStart, lineEnd, lineNumber, seen, positions);
                lineNumber++;
                lineStart = lineEnd + 1;
            }

            foreach (string key in new[] { "model" }.Concat(NumberKeys))
            {
                if (!seen.ContainsKey(key))
                {
                    file.Errors.Add(new ShapeFileError(
                        ShapeFileErrorKind.MissingKey, $"required key '{key}' is missing", 0, 0, 0, 0));
                }
            }

            CheckConstraints(file, positions);
            if (file.TypeName.Length > 0)
            {
                CheckNotReserved(file, positions, reservedTypeNames, "type", $"'type' must not be a name the generated code itself uses, found '{file.TypeName}'");
            }
            else if (file.Model.Length > 0)
            {
                file.TypeName = DeriveTypeName(file.Model);
                CheckNotReserved(file, positions, reservedTypeNames, "model",
                    $"the type name '{file.TypeName}' derived from model '{file.Model}' is a name the generated code itself uses; add a 'type' key with another name");
            }

            return file;
        }

        /// <summary>A C# type name for a model name: non-identifier characters become '_', a leading digit gets '_'.</summary>
        public static string DeriveTypeName(string model)
        {
            var chars = new char[model.Length];
            for (int i = 0; i < model.Length; i++)
            {
                char c = model[i];
                chars[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_';
            }

            string name = new string(chars);
            if (name.Length > 0 && char.IsLetter(name[0]))
            {
                name = char.ToUpperInvariant(name[0]) + name.Substring(1);
            }

            return name.Length > 0 && char.IsDigit(name[0]) ? "_" + name : name;
        }

        private static void ParseLine(
            ShapeFile file, string text, int start, int end, int lineNumber,
            Dictionary<string, int> seen, Dictionary<string, (int, int, int, int)> positions)
        {
            int contentEnd = end;
            int hash = text.IndexOf('#', start, end - start);
            if (hash >= 0)
            {
                contentEnd = hash;
            }

            int s = start;
            while (s < contentEnd && char.IsWhiteSpace(text[s]))
            {
                s++;
            }

            int e = contentEnd;
            while (e > s && char.IsWhiteSpace(text[e - 1]))
            {
                e--;
            }

            if (s == e)
            {
                return; // blank or comment-only line
            }

            int eq = text.IndexOf('=', s, e - s);
            if (eq <= s)
            {
                // No '=' at all, or nothing before it: there is no key to report as unknown.
                file.Errors.Add(new ShapeFileError(
                    ShapeFileErrorKind.MalformedLine,
                    $"expected 'key = value', found '{text.Substring(s, e - s)}'",
                    lineNumber, s - start, s, e - s));
                return;
            }

            int keyEnd = eq;
            while (keyEnd > s && char.IsWhiteSpace(text[keyEnd - 1]))
            {
                keyEnd--;
            }

            int valueStart = eq + 1;
            while (valueStart < e && char.IsWhiteSpace(text[valueStart]))
            {
                valueStart++;
            }

            string key = text.Substring(s, keyEnd - s);
            string value = text.Substring(valueStart, e - valueStart);
            int keyColumn = s - start;
            if (Array.IndexOf(NumberKeys, key) < 0 && Array.IndexOf(NameKeys, key) < 0 && Array.IndexOf(ListKeys, key) < 0)
            {
                file.Errors.Add(new ShapeFileError(
                    ShapeFileErrorKind.UnknownKey,
                    $"unknown key '{key}' (known keys: {string.Join(", ", NameKeys)}, {string.Join(", ", NumberKeys)}, {string.Join(", ", ListKeys)})",
                    lineNumber, keyColumn, s, key.Length));
                return;
            }

            if (seen.TryGetValue(key, out int firstLine))
            {
                file.Errors.Add(new ShapeFileError(
                    ShapeFileErrorKind.DuplicateKey,
                    $"key '{key}' is already set on line {firstLine + 1}",
                    lineNumber, keyColumn, s, key.Length));
                return;
            }

            seen[key] = lineNumber;
            int valueColumn = valueStart - start;
            positions[key] = (lineNumber, valueColumn, valueStart, value.Length);
            if (Array.IndexOf(NameKeys, key) >= 0)
            {
                SetName(file, key, value, lineNumber, valueColumn, valueStart);
                return;
            }

            if (key == "weights")
            {
                SetWeightTypes(file, value, lineNumber, valueColumn, valueStart);
                return;
            }

            string digits = value.Replace("_", "");
            int limit = Limit(key);
            if (digits.Length == 0 || digits.Length > 9 || !IsDigits(digits)
                || !int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int number)
                || number <= 0 || number > limit)
            {
                file.Errors.Add(new ShapeFileError(
                    ShapeFileErrorKind.NotPositiveInteger,
                    $"'{key}' must be a positive integer no larger than {limit.ToString(CultureInfo.InvariantCulture)}, found '{value}'",
                    lineNumber, valueColumn, valueStart, value.Length));
                return;
            }

            ShapeNumbers n = file.Numbers;
            file.Numbers = key switch
            {
                "layers" => n with { Layers = number },
                "embedding" => n with { Embedding = number },
                "head_size" => n with { HeadSize = number },
                "vocab" => n with { Vocab = number },
                "ffn" => n with { Ffn = number },
                "decay_rank" => n with { DecayRank = number },
                "iclr_rank" => n with { IclrRank = number },
                "value_rank" => n with { ValueRank = number },
                "gate_rank" => n with { GateRank = number },
                _ => n,
            };
        }

        /// <summary>
        /// Reads <c>weights = bf16, q8</c>: the weight types (<see cref="WeightTypeSet.Names"/>) whose matrix kernels are
        /// generated. Each mistake is reported at the item that makes it.
        /// </summary>
        private static void SetWeightTypes(ShapeFile file, string value, int line, int column, int start)
        {
            WeightType types = WeightType.None;
            int at = 0;
            foreach (string raw in value.Split(','))
            {
                string item = raw.Trim();
                int offset = at + (raw.Length - raw.TrimStart().Length);
                int length = Math.Max(item.Length, 1);
                WeightType type = WeightTypeSet.Parse(item);
                string? problem = item.Length == 0
                    ? $"'weights' must list one or more of {string.Join(", ", WeightTypeSet.Names)}, separated by commas; found an empty item in '{value}'"
                    : type == WeightType.None
                        ? $"'weights' lists '{item}', which is not a weight type with generated kernels ({string.Join(", ", WeightTypeSet.Names)}; fp16 weights always run the width-generic kernels)"
                        : types.Includes(type) ? $"'weights' lists '{item}' twice" : null;
                if (problem != null)
                {
                    file.Errors.Add(new ShapeFileError(ShapeFileErrorKind.InvalidWeightTypes, problem, line, column + offset, start + offset, length));
                    return;
                }

                types |= type;
                at += raw.Length + 1;
            }

            file.WeightTypes = types;
        }

        private static void SetName(ShapeFile file, string key, string value, int line, int column, int start)
        {
            bool valid;
            switch (key)
            {
                case "model":
                    valid = IsModelName(value);
                    if (valid)
                    {
                        file.Model = value;
                    }

                    break;
                case "type":
                    // All-lowercase ASCII names include every keyword and contextual keyword (record, scoped, file...),
                    // and the compiler warns on the rest (CS8981): such a type would not compile cleanly.
                    valid = IsIdentifier(value) && !IsKeyword(value) && !IsLowercaseAscii(value);
                    if (valid)
                    {
                        file.TypeName = value;
                    }

                    break;
                default:
                    valid = value.Length > 0 && Array.TrueForAll(value.Split('.'), static segment => IsIdentifier(segment) && !IsKeyword(segment));
                    if (valid)
                    {
                        file.Namespace = value;
                    }

                    break;
            }

            if (!valid)
            {
                string rule = key == "model"
                    ? "letters, digits, '.', '-' and '_', starting with a letter or digit"
                    : key == "type" ? "a C# identifier, not a keyword nor all lowercase ASCII letters (reserved by the compiler, CS8981)"
                    : "dot-separated C# identifiers, none of them a keyword";
                file.Errors.Add(new ShapeFileError(
                    ShapeFileErrorKind.InvalidName, $"'{key}' must be {rule}, found '{value}'", line, column, start, value.Length));
            }
        }

        private static void CheckConstraints(ShapeFile file, Dictionary<string, (int Line, int Column, int Start, int Length)> positions)
        {
            ShapeNumbers n = file.Numbers;
            if (n.HeadSize != 0 && n.HeadSize != HeadSize)
            {
                Add(file, positions, "head_size", ShapeFileErrorKind.UnsupportedHeadSize,
                    $"head size {n.HeadSize} is not supported: every RWKV-7 release uses 64, the only size the kernels are written for");
            }

            if (n.Embedding != 0 && n.Embedding % HeadSize != 0)
            {
                Add(file, positions, "embedding", ShapeFileErrorKind.EmbeddingNotMultipleOfHeadSize,
                    $"embedding {n.Embedding} is not a multiple of the head size {HeadSize}");
            }

            CheckStep(file, positions, "ffn", n.Ffn);
            CheckStep(file, positions, "decay_rank", n.DecayRank);
            CheckStep(file, positions, "iclr_rank", n.IclrRank);
            CheckStep(file, positions, "value_rank", n.ValueRank);
            CheckStep(file, positions, "gate_rank", n.GateRank);
        }

        private static void CheckNotReserved(
            ShapeFile file, Dictionary<string, (int Line, int Column, int Start, int Length)> positions, string[]? reserved, string key, string message)
        {
            if (reserved is not null && Array.IndexOf(reserved, file.TypeName) >= 0)
            {
                Add(file, positions, key, ShapeFileErrorKind.InvalidName, message);
            }
        }

        private static void CheckStep(ShapeFile file, Dictionary<string, (int, int, int, int)> positions, string key, int value)
        {
            if (value != 0 && value % KernelStep != 0)
            {
                Add(file, positions, key, ShapeFileErrorKind.NotMultipleOfStep,
                    $"'{key}' = {value} is not a multiple of {KernelStep}, the step of the matrix kernels (every released model's widths are)");
            }
        }

        private static void Add(
            ShapeFile file, Dictionary<string, (int Line, int Column, int Start, int Length)> positions, string key, ShapeFileErrorKind kind, string message)
        {
            (int line, int column, int start, int length) = positions[key];
            file.Errors.Add(new ShapeFileError(kind, message, line, column, start, length));
        }

        private static bool IsDigits(string s)
        {
            foreach (char c in s)
            {
                if (c < '0' || c > '9')
                {
                    return false;
                }
            }

            return true;
        }

        private static bool IsKeyword(string s) => Array.IndexOf(Keywords, s) >= 0;

        private static bool IsLowercaseAscii(string s)
        {
            foreach (char c in s)
            {
                if (c < 'a' || c > 'z')
                {
                    return false;
                }
            }

            return true;
        }

        private static bool IsModelName(string s)
        {
            if (s.Length == 0 || !char.IsLetterOrDigit(s[0]))
            {
                return false;
            }

            foreach (char c in s)
            {
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
                if (!ok)
                {
                    return false;
                }
            }

            return true;
        }

        private static bool IsIdentifier(string s)
        {
            if (s.Length == 0 || !(char.IsLetter(s[0]) || s[0] == '_'))
            {
                return false;
            }

            foreach (char c in s)
            {
                if (!(char.IsLetterOrDigit(c) || c == '_') || c > 127)
                {
                    return false;
                }
            }

            return true;
        }
    }
}
