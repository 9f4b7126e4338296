using System.Globalization;
using System.Text.Json;

namespace Rwkv7.Serving.Http;

/// <summary>
/// Typed reads of request fields from a parsed body: each wrong type or out-of-range value becomes a 400 that names
/// the field. A field set to JSON <c>null</c> counts as absent, as OpenAI treats it.
/// </summary>
internal static class JsonFields
{
    /// <summary>The field's value, or null when it is absent or null.</summary>
    public static JsonElement? Optional(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out JsonElement value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public static double? Number(JsonElement obj, string name, double min, double max, string? param = null)
    {
        param ??= name;
        if (Optional(obj, name) is not { } value)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double number))
        {
            throw ApiException.InvalidType(param, "a number");
        }

        return number >= min && number <= max
            ? number
            : throw ApiException.InvalidValue(param, string.Create(CultureInfo.InvariantCulture, $"'{param}' must be between {min} and {max}, not {number}."));
    }

    public static long? Integer(JsonElement obj, string name, long min, long max, string? param = null)
    {
        param ??= name;
        if (Optional(obj, name) is not { } value)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long number))
        {
            throw ApiException.InvalidType(param, "an integer");
        }

        return number >= min && number <= max
            ? number
            : throw ApiException.InvalidValue(param, string.Create(CultureInfo.InvariantCulture, $"'{param}' must be between {min} and {max}, not {number}."));
    }

    public static bool? Boolean(JsonElement obj, string name, string? param = null)
    {
        if (Optional(obj, name) is not { } value)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiException.InvalidType(param ?? name, "a boolean"),
        };
    }

    public static string? String(JsonElement obj, string name, string? param = null)
    {
        if (Optional(obj, name) is not { } value)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw ApiException.InvalidType(param ?? name, "a string");
    }

    /// <summary>A string that must be one of <paramref name="allowed"/>.</summary>
    public static string? Choice(JsonElement obj, string name, params string[] allowed)
    {
        string? value = String(obj, name);
        return value is null || allowed.Contains(value, StringComparer.Ordinal)
            ? value
            : throw ApiException.InvalidValue(name, $"'{name}' must be one of {string.Join(", ", allowed.Select(a => $"'{a}'"))}, not '{value}'.");
    }

    /// <summary>An object field, or null.</summary>
    public static JsonElement? Object(JsonElement obj, string name, string? param = null)
    {
        if (Optional(obj, name) is not { } value)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Object ? value : throw ApiException.InvalidType(param ?? name, "an object");
    }

    /// <summary>An array field, or null.</summary>
    public static JsonElement? Array(JsonElement obj, string name, string? param = null)
    {
        if (Optional(obj, name) is not { } value)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Array ? value : throw ApiException.InvalidType(param ?? name, "an array");
    }
}
