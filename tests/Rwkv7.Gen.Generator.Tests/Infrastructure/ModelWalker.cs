using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;

namespace Rwkv7.Gen.Generator.Tests.Infrastructure;

/// <summary>
/// Walks an object graph through every field (public or private, inherited ones included) and, for types of the
/// assemblies under test, every readable property, looking for compiler objects that a pipeline model must never
/// hold: they keep whole compilations alive between runs and defeat caching.
/// </summary>
internal sealed class ModelWalker
{
    /// <summary>Types a pipeline model may not contain, at any depth.</summary>
    public static readonly Type[] Forbidden =
    [
        typeof(ISymbol), typeof(SyntaxNode), typeof(SyntaxTree), typeof(Compilation), typeof(SemanticModel), typeof(IOperation),
    ];

    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    private readonly HashSet<Assembly> _modelAssemblies;
    private readonly HashSet<object> _seen = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Type> _checkedTypes = [];

    /// <param name="modelAssemblies">Assemblies whose types are model types: their properties are read and their
    /// fields' declared types checked too (a forbidden field that happens to be null is still a leak).</param>
    public ModelWalker(params Assembly[] modelAssemblies)
    {
        _modelAssemblies = [.. modelAssemblies];
    }

    /// <summary>Where forbidden objects or declarations were found, as paths from the roots.</summary>
    public List<string> Findings { get; } = [];

    /// <summary>Every type of object visited, so a test can check the walk reached what it meant to.</summary>
    public HashSet<Type> VisitedTypes { get; } = [];

    /// <summary>Walks <paramref name="root"/>, naming it <paramref name="name"/> in findings.</summary>
    public void Walk(object? root, string name)
    {
        var pending = new Stack<(object? Value, string Path)>();
        pending.Push((root, name));
        while (pending.Count > 0)
        {
            (object? value, string path) = pending.Pop();
            if (value is null)
            {
                continue;
            }

            Type type = value.GetType();
            if (IsForbidden(type))
            {
                Findings.Add($"{path}: {type.FullName}");
                continue;
            }

            if (IsLeaf(type) || (!type.IsValueType && !_seen.Add(value)))
            {
                continue;
            }

            VisitedTypes.Add(type);
            if (_modelAssemblies.Contains(type.Assembly))
            {
                CheckDeclarations(type);
            }

            if (value is Array array)
            {
                if (!IsLeaf(type.GetElementType()!))
                {
                    int i = 0;
                    foreach (object? item in (IEnumerable)array)
                    {
                        pending.Push((item, $"{path}[{i++}]"));
                    }
                }

                continue;
            }

            for (Type? t = type; t is not null && t != typeof(object); t = t.BaseType)
            {
                foreach (FieldInfo field in t.GetFields(Instance))
                {
                    if (!field.FieldType.IsPointer && !field.FieldType.IsByRefLike)
                    {
                        pending.Push((field.GetValue(value), $"{path}.{field.Name}"));
                    }
                }

                if (_modelAssemblies.Contains(t.Assembly))
                {
                    foreach (PropertyInfo property in t.GetProperties(Instance))
                    {
                        if (property.GetMethod is not null && property.GetIndexParameters().Length == 0 && !property.PropertyType.IsByRefLike)
                        {
                            pending.Push((property.GetValue(value), $"{path}.{property.Name}"));
                        }
                    }
                }
            }
        }
    }

    /// <summary>Checks the declared types of a model type's fields and properties, generic arguments included.</summary>
    public void CheckDeclarations(Type type)
    {
        if (!_checkedTypes.Add(type))
        {
            return;
        }

        for (Type? t = type; t is not null && t != typeof(object); t = t.BaseType)
        {
            foreach (FieldInfo field in t.GetFields(Instance))
            {
                CheckDeclared(field.FieldType, $"{type.Name}.{field.Name}");
            }

            foreach (PropertyInfo property in t.GetProperties(Instance))
            {
                CheckDeclared(property.PropertyType, $"{type.Name}.{property.Name}");
            }
        }
    }

    private void CheckDeclared(Type declared, string where)
    {
        if (IsForbidden(declared))
        {
            Findings.Add($"{where} is declared as {declared.FullName}");
        }

        if (declared.HasElementType)
        {
            CheckDeclared(declared.GetElementType()!, where);
        }

        foreach (Type argument in declared.IsGenericType ? declared.GetGenericArguments() : [])
        {
            CheckDeclared(argument, where);
        }

        if (_modelAssemblies.Contains(declared.Assembly) && !declared.IsGenericParameter)
        {
            CheckDeclarations(declared.IsGenericType ? declared.GetGenericTypeDefinition() : declared);
        }
    }

    private static bool IsForbidden(Type type) => !type.IsGenericParameter && Forbidden.Any(f => f.IsAssignableFrom(type));

    /// <summary>Values with nothing inside worth walking: primitives, strings, and reflection objects.</summary>
    private static bool IsLeaf(Type type) =>
        type.IsPrimitive || type.IsEnum || type.IsPointer || type == typeof(string) || type == typeof(decimal)
        || typeof(MemberInfo).IsAssignableFrom(type) || typeof(Assembly).IsAssignableFrom(type) || typeof(Module).IsAssignableFrom(type);
}
