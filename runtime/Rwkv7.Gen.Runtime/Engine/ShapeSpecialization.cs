using System.ComponentModel;
namespace Rwkv7.Gen;

/// <summary>
/// Code generated for one shape file (CPU kernels, GPU kernels): what it was generated for, and which weights it can
/// run. Depth and vocabulary are loop bounds in generated code, so only the per-layer widths must match.
/// </summary>
public abstract class ShapeSpecialization
{
    /// <summary>Creates the description.</summary>
    /// <param name="name">The shape file's model name, e.g. <c>rwkv7-0.1b</c>.</param>
    /// <param name="typeName">Full name of the generated type.</param>
    /// <param name="shape">The shape as written in the shape file.</param>
    protected ShapeSpecialization(string name, string typeName, ModelShape shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(typeName);
        ArgumentNullException.ThrowIfNull(shape);
        Name = name;
        TypeName = typeName;
        Shape = shape;
    }

    /// <summary>The shape file's model name.</summary>
    public string Name { get; }

    /// <summary>Full name of the generated type.</summary>
    public string TypeName { get; }

    /// <summary>The shape declared in the shape file. Its depth and vocabulary are defaults, not limits.</summary>
    public ModelShape Shape { get; }

    /// <summary>
    /// Whether the generated code can run weights of <paramref name="shape"/>: per-layer widths (embedding, heads,
    /// FFN, LoRA ranks) must match; depth and vocabulary may differ.
    /// </summary>
    public bool CanRun(ModelShape shape) => Shape.HasSameLayerWidths(shape);
}

/// <summary>
/// A thread-safe, append-only list of generated specializations, filled by generated module initializers (no
/// reflection) and searched by shape or name.
/// </summary>
/// <typeparam name="T">The kind of specialization.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class SpecializationRegistry<T>
    where T : ShapeSpecialization
{
    private readonly object _gate = new();
    private T[] _items = [];

    /// <summary>Every registered item, in registration order.</summary>
    public IReadOnlyList<T> Items => Volatile.Read(ref _items);

    /// <summary>Registers an item; one whose type name is already registered is kept once.</summary>
    public void Register(T item)
    {
        ArgumentNullException.ThrowIfNull(item);
        lock (_gate)
        {
            if (Array.Exists(_items, m => m.TypeName == item.TypeName))
            {
                return;
            }

            Volatile.Write(ref _items, [.. _items, item]);
        }
    }

    /// <summary>The first registered item able to run weights of <paramref name="shape"/>, or null.</summary>
    public T? FindFor(ModelShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        foreach (T item in Items)
        {
            if (item.CanRun(shape))
            {
                return item;
            }
        }

        return null;
    }

    /// <summary>A registered item by its shape-file model name (case-insensitive), or null.</summary>
    public T? FindByName(string name)
    {
        foreach (T item in Items)
        {
            if (string.Equals(item.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return item;
            }
        }

        return null;
    }
}
