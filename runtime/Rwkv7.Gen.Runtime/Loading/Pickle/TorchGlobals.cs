namespace Rwkv7.Gen.Loading.Pickle;

/// <summary>
/// The only callables and classes a checkpoint pickle may use, and what calling them builds. Anything else
/// is refused by name: unpickling never runs or constructs arbitrary types.
/// </summary>
internal static class TorchGlobals
{
    /// <summary>The persistent id tag torch writes for storages.</summary>
    public const string StorageTag = "storage";

    private const string TorchModule = "torch";
    private const string TorchUtilsModule = "torch._utils";
    private const int PersistentIdLength = 5;
    private const int RebuildTensorArgs = 6;
    private const int RebuildTensorArgsWithMetadata = 7;
    private const int RebuildParameterArgs = 3;
    private const int RebuildParameterWithStateArgs = 4;

    /// <summary>Storage classes torch.save names; only the floating-point ones our tensors use map to a type.</summary>
    private static readonly TorchStorageType[] StorageTypes =
    [
        new("FloatStorage", 4, TensorDType.F32),
        new("HalfStorage", 2, TensorDType.F16),
        new("BFloat16Storage", 2, TensorDType.BF16),
        new("DoubleStorage", 8, null),
        new("LongStorage", 8, null),
        new("IntStorage", 4, null),
        new("ShortStorage", 2, null),
        new("CharStorage", 1, null),
        new("ByteStorage", 1, null),
        new("BoolStorage", 1, null),
        new("ComplexFloatStorage", 8, null),
        new("ComplexDoubleStorage", 16, null),
    ];

    /// <summary>Resolves a GLOBAL / STACK_GLOBAL reference against the whitelist.</summary>
    /// <exception cref="InvalidPickleException">The global is not allowed.</exception>
    public static PickleGlobal Resolve(string module, string name)
    {
        switch (module, name)
        {
            case ("collections", "OrderedDict"):
                return new PickleGlobal(module, name, PickleGlobalKind.OrderedDict);
            case (TorchUtilsModule, "_rebuild_tensor_v2"):
                return new PickleGlobal(module, name, PickleGlobalKind.RebuildTensorV2);
            case (TorchUtilsModule, "_rebuild_parameter"):
            case (TorchUtilsModule, "_rebuild_parameter_with_state"):
                return new PickleGlobal(module, name, PickleGlobalKind.RebuildParameter);
        }

        if (module == TorchModule)
        {
            foreach (TorchStorageType type in StorageTypes)
            {
                if (type.Name == name)
                {
                    return new PickleGlobal(module, name, PickleGlobalKind.StorageType, type);
                }
            }
        }

        throw new InvalidPickleException(
            $"global '{module}.{name}' is not allowed in a checkpoint (only torch._utils._rebuild_tensor_v2, _rebuild_parameter, collections.OrderedDict and torch storage types are)");
    }

    /// <summary>Applies REDUCE (<paramref name="isNewObj"/> false) or NEWOBJ to a whitelisted global.</summary>
    public static object Call(object? callable, object?[] args, bool isNewObj)
    {
        if (callable is not PickleGlobal global)
        {
            throw new InvalidPickleException($"cannot call {PickleValues.Describe(callable)}: only whitelisted globals can be called");
        }

        if (isNewObj && global.Kind != PickleGlobalKind.OrderedDict)
        {
            throw new InvalidPickleException($"NEWOBJ needs a class, not {global.FullName}");
        }

        return global.Kind switch
        {
            PickleGlobalKind.OrderedDict when args.Length == 0 => new PickleDict(isOrderedDict: true),
            PickleGlobalKind.OrderedDict =>
                throw new InvalidPickleException($"collections.OrderedDict is built with {args.Length} arguments; only an empty one is supported"),
            PickleGlobalKind.RebuildTensorV2 => RebuildTensor(args),
            PickleGlobalKind.RebuildParameter => RebuildParameter(global, args),
            _ => throw new InvalidPickleException($"{global.FullName} cannot be called"),
        };
    }

    /// <summary>
    /// Resolves a BINPERSID id <c>('storage', storage type, key, location, numel)</c>. Storages seen before are
    /// returned again, so several tensors may share one.
    /// </summary>
    public static TorchStorage PersistentLoad(object? id, Dictionary<string, TorchStorage> storages)
    {
        if (id is not object?[] { Length: PersistentIdLength } tuple
            || tuple[0] is not StorageTag
            || tuple[1] is not PickleGlobal { Kind: PickleGlobalKind.StorageType, StorageType: { } type }
            || tuple[2] is not string key
            || tuple[3] is not string location
            || tuple[4] is not long count)
        {
            throw new InvalidPickleException(
                $"persistent id {PickleValues.Describe(id)} is not ('storage', <torch storage type>, key, location, numel)");
        }

        if (count < 0)
        {
            throw new InvalidPickleException($"storage '{key}' has a negative element count {count}");
        }

        if (storages.TryGetValue(key, out TorchStorage? known))
        {
            if (known.Type != type)
            {
                throw new InvalidPickleException($"storage '{key}' is used both as {known.Type.Name} and as {type.Name}");
            }

            return known;
        }

        var storage = new TorchStorage(type, key, location, count);
        storages.Add(key, storage);
        return storage;
    }

    /// <summary><c>_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])</c>.</summary>
    private static TorchTensor RebuildTensor(object?[] args)
    {
        if (args.Length is not (RebuildTensorArgs or RebuildTensorArgsWithMetadata))
        {
            throw new InvalidPickleException($"torch._utils._rebuild_tensor_v2 takes 6 or 7 arguments, got {args.Length}");
        }

        if (args[0] is not TorchStorage storage)
        {
            throw new InvalidPickleException($"torch._utils._rebuild_tensor_v2 expects a storage, got {PickleValues.Describe(args[0])}");
        }

        if (args[1] is not long offset)
        {
            throw new InvalidPickleException($"tensor storage offset is {PickleValues.Describe(args[1])}, not an int");
        }

        long[] size = IntegerTuple(args[2], "size");
        long[] stride = IntegerTuple(args[3], "stride");
        if (size.Length != stride.Length)
        {
            throw new InvalidPickleException($"tensor size has {size.Length} dimensions but its stride has {stride.Length}");
        }

        return new TorchTensor(storage, offset, size, stride);
    }

    /// <summary><c>_rebuild_parameter(tensor, requires_grad, hooks)</c>: a Parameter is its tensor here.</summary>
    private static TorchTensor RebuildParameter(PickleGlobal global, object?[] args)
    {
        if (args.Length is not (RebuildParameterArgs or RebuildParameterWithStateArgs) || args[0] is not TorchTensor tensor)
        {
            throw new InvalidPickleException($"{global.FullName} expects (tensor, requires_grad, hooks), got {args.Length} arguments");
        }

        return tensor;
    }

    private static long[] IntegerTuple(object? value, string what)
    {
        if (value is not object?[] tuple)
        {
            throw new InvalidPickleException($"tensor {what} is {PickleValues.Describe(value)}, not a tuple of ints");
        }

        long[] result = new long[tuple.Length];
        for (int i = 0; i < tuple.Length; i++)
        {
            result[i] = tuple[i] is long v
                ? v
                : throw new InvalidPickleException($"tensor {what} element {i} is {PickleValues.Describe(tuple[i])}, not an int");
        }

        return result;
    }
}
