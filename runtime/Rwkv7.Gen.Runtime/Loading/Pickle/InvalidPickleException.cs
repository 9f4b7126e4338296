namespace Rwkv7.Gen.Loading.Pickle;

/// <summary>
/// A problem found while interpreting a pickle, before the file path and byte offset are known. The
/// interpreter catches it and rethrows it as an <see cref="RwkvFormatException"/> pointing at the opcode.
/// </summary>
internal sealed class InvalidPickleException(string message) : Exception(message);
