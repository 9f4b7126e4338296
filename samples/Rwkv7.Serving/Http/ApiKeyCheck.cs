using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Rwkv7.Serving.Http;

/// <summary>
/// <c>--api-key</c>: every path but <c>/health</c> needs <c>Authorization: Bearer KEY</c>. The key is compared in
/// constant time: both sides are hashed (SHA-256, so their lengths do not show either) and the digests compared with
/// <see cref="CryptographicOperations.FixedTimeEquals"/>.
/// </summary>
internal sealed class ApiKeyCheck(string apiKey)
{
    private const string Scheme = "Bearer ";

    private readonly byte[] _expected = SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));

    /// <summary>Paths anyone may call: a load balancer's health check carries no key.</summary>
    public static bool IsOpen(PathString path) => path.Equals("/health", StringComparison.Ordinal);

    /// <summary>Checks the key unless the path is open to all.</summary>
    /// <exception cref="ApiException">401: no key, or the wrong one.</exception>
    public void CheckUnlessOpen(HttpRequest request)
    {
        if (IsOpen(request.Path))
        {
            return;
        }

        string? header = request.Headers.Authorization;
        if (header is null || !header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            throw ApiException.MissingApiKey();
        }

        byte[] given = SHA256.HashData(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()));
        if (!CryptographicOperations.FixedTimeEquals(given, _expected))
        {
            throw ApiException.WrongApiKey();
        }
    }
}
