using System.Globalization;

namespace Rwkv7.Gen.Loading.Pickle;

/// <summary>
/// The values the interpreter builds. Python values map to plain .NET ones where they exist: None → null,
/// bool, int → long, float → double, str → string, bytes → byte[], tuple → object?[], list → List&lt;object?&gt;.
/// Dicts keep their insertion order; the torch objects are the records below.
/// </summary>
internal static class PickleValues
{
    /// <summary>A short description of a value's Python type, for error messages (never recursive).</summary>
    public static string Describe(object? value) => value switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        long l => "int " + l.ToString(CultureInfo.InvariantCulture),
        double d => "float " + d.ToString("R", CultureInfo.InvariantCulture),
        string s => s.Length <= 40 ? $"str '{s}'" : $"str of {s.Length} characters",
        byte[] b => $"bytes of length {b.Length}",
        object?[] t => $"tuple of {t.Length}",
        List<object?> l => $"list of {l.Count}",
        PickleDict d => d.IsOrderedDict ? $"OrderedDict of {d.Count}" : $"dict of {d.Count}",
        PickleGlobal g => $"global {g.FullName}",
        TorchStorage s => $"torch storage '{s.Key}' ({s.Type.Name})",
        TorchTensor => "tensor",
        _ => value.GetType().Name,
    };
}

/// <summary>A Python dict or <c>collections.OrderedDict</c>, in insertion order.</summary>
internal sealed class PickleDict(bool isOrderedDict)
{
    private readonly List<KeyValuePair<object?, object?>> _items = [];

    /// <summary>Whether the pickle built it as a <c>collections.OrderedDict</c> rather than a plain dict.</summary>
    public bool IsOrderedDict { get; } = isOrderedDict;

    public int Count => _items.Count;

    /// <summary>Items in insertion order (a repeated key appears once per assignment; callers reject that).</summary>
    public IReadOnlyList<KeyValuePair<object?, object?>> Items => _items;

    public void Add(object? key, object? value) => _items.Add(new KeyValuePair<object?, object?>(key, value));
}

/// <summary>What a whitelisted global is.</summary>
internal enum PickleGlobalKind
{
    /// <summary><c>collections.OrderedDict</c>.</summary>
    OrderedDict,

    /// <summary><c>torch._utils._rebuild_tensor_v2</c>.</summary>
    RebuildTensorV2,

    /// <summary><c>torch._utils._rebuild_parameter</c> (and <c>_rebuild_parameter_with_state</c>).</summary>
    RebuildParameter,

    /// <summary>A storage class such as <c>torch.BFloat16Storage</c>.</summary>
    StorageType,
}

/// <summary>A global (module attribute) the pickle refers to; only whitelisted ones are ever created.</summary>
internal sealed record PickleGlobal(string Module, string Name, PickleGlobalKind Kind, TorchStorageType? StorageType = null)
{
    public string FullName => $"{Module}.{Name}";
}

/// <summary>A torch storage class: its name, element size and the tensor type it maps to (null: unsupported).</summary>
internal sealed record TorchStorageType(string Name, int ElementSize, TensorDType? DType);

/// <summary>
/// A storage named by a persistent id <c>('storage', type, key, location, numel)</c>: its bytes live in the
/// archive entry <c>data/&lt;key&gt;</c>.
/// </summary>
internal sealed record TorchStorage(TorchStorageType Type, string Key, string Location, long ElementCount);

/// <summary>A tensor as <c>_rebuild_tensor_v2</c> describes it: a view of a storage (checked later, by name).</summary>
internal sealed record TorchTensor(TorchStorage Storage, long StorageOffset, long[] Size, long[] Stride);
