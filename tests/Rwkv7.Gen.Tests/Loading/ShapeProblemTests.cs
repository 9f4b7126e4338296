using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Loading.Support;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>
/// A well-formed file whose tensors do not form the model is a shape error that lists every problem at once,
/// with names and expected/actual shapes, whatever the container.
/// </summary>
public sealed class ShapeProblemTests
{
    [Fact]
    public void Safetensors_with_two_missing_and_one_misshapen_tensor_reports_all_three()
    {
        List<SafetensorsItem> items = TestSafetensors.ReadAll(Fixtures.Path(Models.TinyF32Safetensors));
        items.RemoveAll(i => i.Name is "blocks.3.att.k_k" or "blocks.5.ffn.x_k");
        int key = items.FindIndex(i => i.Name == "blocks.2.att.key.weight");
        items[key] = items[key] with { Shape = [64, 32], Data = items[key].Data[..(64 * 32 * 4)] };
        using var file = new TempFile(TestSafetensors.Write(items), ".safetensors");

        RwkvShapeException e = Assert.IsType<RwkvShapeException>(MalformedFile.AssertRejected(file.Path));

        Assert.Equal(file.Path, e.FilePath);
        Assert.Equal(
            [
                new TensorProblem("blocks.2.att.key.weight", "(64, 64)", "(64, 32)"),
                new TensorProblem("blocks.3.att.k_k", "(1, 1, 64)", "missing"),
                new TensorProblem("blocks.5.ffn.x_k", "(1, 1, 64)", "missing"),
            ],
            e.Problems);
        Assert.Contains("3 problems", e.Message, StringComparison.Ordinal);
        Assert.Contains("blocks.2.att.key.weight: expected (64, 64), found (64, 32)", e.Message, StringComparison.Ordinal);
        Assert.Contains("blocks.3.att.k_k: expected (1, 1, 64), found missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rwkv_cpp_file_with_two_missing_and_one_misshapen_tensor_reports_all_three()
    {
        (int[] header, List<RwkvCppRecord> records) = TestRwkvCpp.Parse(FixtureBytes.Get(Models.TinyFp32Bin));
        records.RemoveAll(r => r.Name is "blocks.4.att.r_k" or "blocks.7.ln2.bias");
        int ffn = records.FindIndex(r => r.Name == "blocks.1.ffn.key.weight");
        Assert.Equal([64, 256], records[ffn].StoredDims); // innermost first: canonical (256, 64)
        records[ffn] = records[ffn] with { StoredDims = [64, 128], Data = records[ffn].Data[..(64 * 128 * 4)] };
        using var file = new TempFile(TestRwkvCpp.Write(header, records), ".bin");

        RwkvShapeException e = Assert.IsType<RwkvShapeException>(MalformedFile.AssertRejected(file.Path));

        Assert.Equal(
            [
                new TensorProblem("blocks.1.ffn.key.weight", "(256, 64)", "(128, 64)"),
                new TensorProblem("blocks.4.att.r_k", "(1, 64)", "missing"),
                new TensorProblem("blocks.7.ln2.bias", "(64,)", "missing"),
            ],
            e.Problems);
        Assert.StartsWith(file.Path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rwkv_cpp_file_without_a_merged_token_shift_misses_all_six_canonical_mixes()
    {
        (int[] header, List<RwkvCppRecord> records) = TestRwkvCpp.Parse(FixtureBytes.Get(Models.TinyFp32Bin));
        records.RemoveAll(r => r.Name == "blocks.6.att.x_rwkvag");
        using var file = new TempFile(TestRwkvCpp.Write(header, records), ".bin");

        RwkvShapeException e = Assert.IsType<RwkvShapeException>(MalformedFile.AssertRejected(file.Path));

        Assert.Equal(
            CanonicalTensors.TimeMixShiftNames.Select(m => $"blocks.6.att.{m}"),
            e.Problems.Select(p => p.TensorName));
    }

    [Fact]
    public void Rwkv_cpp_lora_factor_stored_untransposed_is_reported_with_its_canonical_shape()
    {
        // g1 must be stored as the transpose of its canonical (64, 32); storing it canonical reads back as (32, 64).
        (int[] header, List<RwkvCppRecord> records) = TestRwkvCpp.Parse(FixtureBytes.Get(Models.TinyFp32Bin));
        int g1 = records.FindIndex(r => r.Name == "blocks.2.att.g1");
        records[g1] = records[g1] with { StoredDims = [32, 64] };
        using var file = new TempFile(TestRwkvCpp.Write(header, records), ".bin");

        RwkvShapeException e = Assert.IsType<RwkvShapeException>(MalformedFile.AssertRejected(file.Path));

        Assert.Equal([new TensorProblem("blocks.2.att.g1", "(64, 32)", "(32, 64)")], e.Problems);
    }

    [Fact]
    public void Unexpected_tensors_are_problems_too()
    {
        List<SafetensorsItem> items = TestSafetensors.ReadAll(Fixtures.Path(Models.TinyBf16Safetensors));
        items.Add(new SafetensorsItem("blocks.1.att.time_faaaa", "F32", [1, 64], new byte[256]));
        using var file = new TempFile(TestSafetensors.Write(items), ".safetensors");

        RwkvShapeException e = Assert.IsType<RwkvShapeException>(MalformedFile.AssertRejected(file.Path));

        TensorProblem p = Assert.Single(e.Problems);
        Assert.Equal("blocks.1.att.time_faaaa", p.TensorName);
        Assert.Equal("(1, 64) fp32", p.Actual);
    }
}
