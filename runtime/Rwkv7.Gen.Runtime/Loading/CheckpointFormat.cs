namespace Rwkv7.Gen.Loading;

/// <summary>Container formats the loaders read.</summary>
public enum CheckpointFormat
{
    /// <summary>PyTorch <c>torch.save</c> zip archive (<c>.pth</c>), as released by BlinkDL/RWKV-LM.</summary>
    PyTorch,

    /// <summary>Hugging Face safetensors.</summary>
    Safetensors,

    /// <summary>rwkv.cpp <c>.bin</c> (ggml-based, versions 100 and 101).</summary>
    RwkvCpp,

    /// <summary>GGUF (versions 2 and 3), as llama.cpp and ollama use: the <c>rwkv7</c> architecture.</summary>
    Gguf,
}
