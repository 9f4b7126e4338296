using Rwkv7.Gen.Tests.Infrastructure;
using Rwkv7.Gen.Tests.Loading.Support;

namespace Rwkv7.Gen.Tests.Loading;

/// <summary>safetensors headers that lie about offsets, lengths, types or shapes.</summary>
public sealed class SafetensorsErrorTests
{
    private static readonly byte[] Data24 = new byte[24];

    public static TheoryData<string, string, string> LyingHeaders() => new()
    {
        {
            "offsets out of range",
            """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,1000000]}}""",
            "tensor 'a' data_offsets [0, 1000000] lie outside the data section of 24 bytes"
        },
        {
            "negative offset",
            """{"a":{"dtype":"F32","shape":[4],"data_offsets":[-8,8]}}""",
            "tensor 'a' data_offsets [-8, 8] lie outside"
        },
        {
            "end before begin",
            """{"a":{"dtype":"F32","shape":[0],"data_offsets":[16,8]}}""",
            "tensor 'a' data_offsets [16, 8] lie outside"
        },
        {
            "wrong length",
            """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}""",
            "tensor 'a' data_offsets [0, 12] span 12 bytes but shape (4,) of F32 needs 16"
        },
        {
            "overlapping",
            """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}""",
            "tensors 'a' and 'b' overlap"
        },
        {
            "unsupported dtype",
            """{"a":{"dtype":"I64","shape":[3],"data_offsets":[0,24]}}""",
            "tensor 'a' has dtype I64"
        },
        {
            "negative dimension",
            """{"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}""",
            "tensor 'a' has a shape entry that is not a non-negative 32-bit integer"
        },
        {
            "overflowing shape",
            """{"a":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,16]}}""",
            "too large to exist"
        },
        {
            "missing fields",
            """{"a":{"dtype":"F32","shape":[4]}}""",
            "safetensors entry 'a' must have"
        },
        {
            "not JSON",
            """{"a":{"dtype":"F32",""",
            "not valid JSON"
        },
        {
            "not an object",
            """[1,2,3]""",
            "not a JSON object"
        },
    };

    [Theory]
    [MemberData(nameof(LyingHeaders))]
    public void Lying_header_is_a_format_error(string what, string header, string detail)
    {
        using var file = new TempFile(TestSafetensors.WithHeader(header, Data24), ".safetensors");

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.True(e.Detail.Contains(detail, StringComparison.Ordinal), $"{what}: '{e.Detail}' should contain '{detail}'");
    }

    [Fact]
    public void Header_length_past_the_end_of_the_file_is_not_recognized()
    {
        using TempFile file = TempFile.CopyOf(Models.TinyBf16Safetensors, bytes => bytes[5] = 0x10);
        Assert.Contains("not a recognized checkpoint", MalformedFile.AssertFormatError(file.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Fixture_with_one_offset_moved_out_of_range_names_the_tensor()
    {
        // Rewrite the real header with head.weight's end offset pushed past the data.
        byte[] original = FixtureBytes.Get(Models.TinyBf16Safetensors);
        int headerLength = (int)BitConverter.ToUInt64(original, 0);
        string json = System.Text.Encoding.UTF8.GetString(original, 8, headerLength).TrimEnd();
        int at = json.IndexOf("\"head.weight\"", StringComparison.Ordinal);
        int offsets = json.IndexOf("data_offsets", at, StringComparison.Ordinal);
        int close = json.IndexOf(']', offsets);
        int comma = json.LastIndexOf(',', close);
        string lying = json[..(comma + 1)] + "99999999" + json[close..];
        using var file = new TempFile(TestSafetensors.WithHeader(lying, original[(8 + headerLength)..]), ".safetensors");

        RwkvFormatException e = MalformedFile.AssertFormatError(file.Path);

        Assert.Contains("tensor 'head.weight' data_offsets", e.Detail, StringComparison.Ordinal);
    }
}
