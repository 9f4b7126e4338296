using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Text;

namespace Rwkv7.Gen;

/// <summary>
/// Which processor this is, as far as tuning cares: vendor, family and model (the keys of <see cref="CpuTuningTable"/>),
/// and the brand string for people. On x86 it is read with <c>CPUID</c>; elsewhere from <c>/proc/cpuinfo</c> where
/// there is one (on arm64 the family is the implementer and the model the part number).
/// </summary>
/// <param name="Architecture">The process architecture.</param>
/// <param name="Vendor">The CPUID vendor string (<c>AuthenticAMD</c>, <c>GenuineIntel</c>), an arm64 implementer (<c>arm 0x41</c>), or <c>unknown</c>.</param>
/// <param name="Family">Display family (x86: base plus extended family), or the arm64 implementer code.</param>
/// <param name="Model">Display model (x86: extended model in the high nibble where the vendor uses it), or the arm64 part number.</param>
/// <param name="Stepping">Stepping, or the arm64 revision.</param>
/// <param name="Brand">The marketing name (<c>AMD EPYC 9B45</c>), or empty when the processor does not say.</param>
/// <param name="Source">Where the identity was read: <c>cpuid</c>, <c>/proc/cpuinfo</c> or <c>none</c>.</param>
public sealed record CpuIdentity(
    Architecture Architecture, string Vendor, int Family, int Model, int Stepping, string Brand, string Source)
{
    /// <summary>The CPUID vendor string of AMD processors.</summary>
    public const string Amd = "AuthenticAMD";

    /// <summary>The CPUID vendor string of Intel processors.</summary>
    public const string Intel = "GenuineIntel";

    private static readonly Lazy<CpuIdentity> CurrentIdentity = new(Detect);

    /// <summary>The processor this process runs on.</summary>
    public static CpuIdentity Current => CurrentIdentity.Value;

    /// <summary>A short stable key for caches and logs, e.g. <c>AuthenticAMD-26-2</c>.</summary>
    public string Key => string.Create(CultureInfo.InvariantCulture, $"{Vendor.Replace(' ', '_')}-{Family}-{Model}");

    /// <inheritdoc />
    public override string ToString()
    {
        string brand = Brand.Length > 0 ? $"{Brand}, " : "";
        return string.Create(CultureInfo.InvariantCulture, $"{brand}{Vendor} family {Family} (0x{Family:X}) model {Model} (0x{Model:X}) stepping {Stepping}");
    }

    /// <summary>Reads the identity of the processor this process runs on.</summary>
    public static CpuIdentity Detect()
    {
        if (X86Base.IsSupported)
        {
            return FromCpuId();
        }

        const string cpuinfo = "/proc/cpuinfo";
        try
        {
            if (File.Exists(cpuinfo))
            {
                return FromCpuInfo(File.ReadAllText(cpuinfo), RuntimeInformation.ProcessArchitecture);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return new CpuIdentity(RuntimeInformation.ProcessArchitecture, "unknown", 0, 0, 0, "", "none");
    }

    /// <summary>
    /// The identity described by the text of <c>/proc/cpuinfo</c> (its first processor): x86's <c>vendor_id</c>,
    /// <c>cpu family</c>, <c>model</c>, <c>stepping</c> and <c>model name</c>, or arm64's <c>CPU implementer</c>,
    /// <c>CPU part</c> and <c>CPU revision</c>. Used where <c>CPUID</c> cannot be executed.
    /// </summary>
    public static CpuIdentity FromCpuInfo(string text, Architecture architecture)
    {
        ArgumentNullException.ThrowIfNull(text);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n'))
        {
            if (line.Trim().Length == 0 && fields.Count > 0)
            {
                break; // the first processor's block only
            }

            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                fields.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
            }
        }

        string Field(string name) => fields.TryGetValue(name, out string? value) ? value : "";
        if (Field("vendor_id") is { Length: > 0 } vendor)
        {
            return new CpuIdentity(architecture, vendor, Number(Field("cpu family")), Number(Field("model")), Number(Field("stepping")), Field("model name"), "/proc/cpuinfo");
        }

        if (Field("CPU implementer") is { Length: > 0 } implementer)
        {
            int code = Number(implementer);
            return new CpuIdentity(
                architecture, string.Create(CultureInfo.InvariantCulture, $"arm 0x{code:x2}"), code, Number(Field("CPU part")), Number(Field("CPU revision")), Field("model name"), "/proc/cpuinfo");
        }

        return new CpuIdentity(architecture, "unknown", 0, 0, 0, Field("model name"), "/proc/cpuinfo");
    }

    private static CpuIdentity FromCpuId()
    {
        (int _, int ebx, int ecx, int edx) = X86Base.CpuId(0, 0);
        Span<byte> vendorBytes = stackalloc byte[12];
        MemoryMarshal.Write(vendorBytes, ebx);
        MemoryMarshal.Write(vendorBytes[4..], edx);
        MemoryMarshal.Write(vendorBytes[8..], ecx);
        string vendor = Encoding.ASCII.GetString(vendorBytes).TrimEnd('\0', ' ');

        int signature = X86Base.CpuId(1, 0).Eax;
        int stepping = signature & 0xF, baseModel = (signature >> 4) & 0xF, baseFamily = (signature >> 8) & 0xF;
        int extendedModel = (signature >> 16) & 0xF, extendedFamily = (signature >> 20) & 0xFF;
        int family = baseFamily == 0xF ? baseFamily + extendedFamily : baseFamily;
        int model = baseFamily is 0x6 or 0xF ? (extendedModel << 4) + baseModel : baseModel;

        string brand = "";
        if ((uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax >= 0x80000004)
        {
            Span<byte> brandBytes = stackalloc byte[48];
            for (int i = 0; i < 3; i++)
            {
                (int a, int b, int c, int d) = X86Base.CpuId(unchecked((int)0x80000002) + i, 0);
                Span<byte> part = brandBytes.Slice(i * 16, 16);
                MemoryMarshal.Write(part, a);
                MemoryMarshal.Write(part[4..], b);
                MemoryMarshal.Write(part[8..], c);
                MemoryMarshal.Write(part[12..], d);
            }

            brand = Encoding.ASCII.GetString(brandBytes).TrimEnd('\0').Trim();
        }

        return new CpuIdentity(RuntimeInformation.ProcessArchitecture, vendor, family, model, stepping, brand, "cpuid");
    }

    /// <summary>A decimal or 0x-prefixed hexadecimal number of /proc/cpuinfo; 0 when it is neither.</summary>
    private static int Number(string text)
    {
        text = text.Trim();
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            return int.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int hex) ? hex : 0;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) ? value : 0;
    }
}
