using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Picojump.Cli.Infrastructure;

namespace Picojump.Cli.Certificates;

/// <summary>
/// The PEM files of a TLS directory: ca.crt and ca.key for the CA, NAME.crt and NAME.key per
/// host. Keys are written 0600 and every file is replaced atomically.
/// </summary>
public static class CertificateFiles
{
    public const string DefaultDirectory = "/etc/picojump/tls";
    public const string AuthorityName = "ca";

    private const UnixFileMode PublicMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode SecretMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static string CertificatePath(string directory, string name) => Path.Combine(directory, name + ".crt");

    public static string KeyPath(string directory, string name) => Path.Combine(directory, name + ".key");

    /// <summary>Writes NAME.crt and, if the certificate carries one, NAME.key (ECDSA, PKCS#8).</summary>
    public static void Write(string directory, string name, X509Certificate2 certificate)
    {
        Directory.CreateDirectory(directory);
        if (certificate.HasPrivateKey)
        {
            using var key = certificate.GetECDsaPrivateKey() ?? throw new CliException($"{name}: only ECDSA keys are supported");
            WriteAtomically(KeyPath(directory, name), key.ExportPkcs8PrivateKeyPem(), SecretMode);
        }
        WriteAtomically(CertificatePath(directory, name), certificate.ExportCertificatePem(), PublicMode);
    }

    /// <summary>Reads NAME.crt, with NAME.key when <paramref name="withKey"/>.</summary>
    public static X509Certificate2 Read(string directory, string name, bool withKey)
    {
        var certificatePath = CertificatePath(directory, name);
        var keyPath = KeyPath(directory, name);
        foreach (var path in withKey ? [certificatePath, keyPath] : new[] { certificatePath })
        {
            if (!File.Exists(path))
                throw new CliException($"{path} does not exist");
        }
        try
        {
            return withKey
                ? X509Certificate2.CreateFromPemFile(certificatePath, keyPath)
                : X509Certificate2.CreateFromPem(File.ReadAllText(certificatePath));
        }
        catch (CryptographicException ex)
        {
            throw new CliException($"{certificatePath}: not a usable PEM certificate{(withKey ? " and key" : "")} ({ex.Message})", ex);
        }
    }

    private static void WriteAtomically(string path, string text, UnixFileMode mode)
    {
        var temporary = path + ".new";
        File.Delete(temporary);
        using (var stream = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode }))
        using (var writer = new StreamWriter(stream))
            writer.Write(text);
        File.SetUnixFileMode(temporary, mode); // the umask may have taken bits away
        File.Move(temporary, path, overwrite: true);
    }
}
