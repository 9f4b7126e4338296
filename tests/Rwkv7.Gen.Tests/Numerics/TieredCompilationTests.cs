using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Rwkv7.Gen.Specialized;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// In a JIT process every method starts as unoptimized tier-0 code, where each vector operation is a call: vector
/// code run that way is many times slower, and the hot paths of a token run thousands of times before tiering replaces
/// them. A new 16-bit rounding method (change 50) ran so for the first second of every process: `bench-serve`'s engine
/// figure for one 0.1B q4 session read 231 tokens/s against 398 with tiered compilation off. So every method of the
/// runtime that handles vectors is compiled optimized at once (<see cref="MethodImplOptions.AggressiveOptimization"/>)
/// or inlined into a caller that is (<see cref="MethodImplOptions.AggressiveInlining"/>).
/// </summary>
public sealed class TieredCompilationTests
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;

    [Fact]
    public void Every_runtime_and_generated_method_that_handles_vectors_skips_tier_0()
    {
        // The runtime, and the kernels the generator emitted into this test assembly (the tiny and 12-head models).
        IEnumerable<Type> types = typeof(RwkvModel).Assembly.GetTypes()
            .Concat(typeof(TieredCompilationTests).Assembly.GetTypes().Where(t => t.Namespace?.StartsWith("Rwkv7.Gen.Tests.Generated", StringComparison.Ordinal) == true));
        var offenders = new List<string>();
        int checkedMethods = 0;
        foreach (Type type in types)
        {
            foreach (MethodBase method in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
            {
                if (method.IsAbstract || !HandlesVectors(method))
                {
                    continue;
                }

                checkedMethods++;
                MethodImplAttributes impl = method.MethodImplementationFlags;
                if ((impl & (MethodImplAttributes.AggressiveOptimization | MethodImplAttributes.AggressiveInlining)) == 0)
                {
                    offenders.Add($"{type.FullName}.{method.Name}");
                }
            }
        }

        Assert.True(checkedMethods > 100, $"only {checkedMethods} methods with vectors were found: the scan misses the kernels");
        Assert.True(offenders.Count == 0, "these handle vectors and would start as tier-0 code: " + string.Join(", ", offenders.Distinct().Order(StringComparer.Ordinal)));
    }

    [Fact]
    public void The_check_sees_vectors_in_parameters_results_and_locals()
    {
        Assert.True(HandlesVectors(typeof(Horizontal).GetMethod(nameof(Horizontal.Store))!));
        Assert.True(HandlesVectors(typeof(TieredCompilationTests).GetMethod(nameof(VectorLocal), Declared)!));
        Assert.False(HandlesVectors(typeof(TieredCompilationTests).GetMethod(nameof(ScalarOnly), Declared)!));
    }

    private static bool HandlesVectors(MethodBase method)
    {
        IEnumerable<Type> types = method.GetParameters().Select(p => p.ParameterType)
            .Concat(method is MethodInfo info ? [info.ReturnType] : [])
            .Concat(method.GetMethodBody()?.LocalVariables.Select(l => l.LocalType) ?? []);
        return types.Any(IsVector);
    }

    private static bool IsVector(Type type)
    {
        Type t = type.IsByRef || type.IsPointer ? type.GetElementType()! : type;
        return t.Namespace == "System.Runtime.Intrinsics" && t.Name.StartsWith("Vector", StringComparison.Ordinal) && t.IsValueType;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float VectorLocal(float x)
    {
        Vector128<float> v = Vector128.Create(x, x + 1, x + 2, x + 3);
        for (int i = 0; i < 3; i++)
        {
            v += v;
        }

        return v.ToScalar() + v.GetElement(1);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float ScalarOnly(float x) => x + 1;
}
