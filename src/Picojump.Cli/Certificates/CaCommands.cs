using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using Picojump.Cli.Infrastructure;

namespace Picojump.Cli.Certificates;

/// <summary>`pjctl ca init` and `pjctl ca issue`: the cluster CA and host certificates for real nodes.</summary>
public static class CaCommands
{
    public static Command Create()
    {
        var dir = new Option<string>("--dir")
        {
            Description = "Directory of the PEM files",
            DefaultValueFactory = _ => CertificateFiles.DefaultDirectory,
        };

        var init = new Command("init", "Create the cluster CA (ca.crt, ca.key) in --dir; run once per cluster") { dir };
        init.SetAction(result => Init(result.GetValue(dir)!, Console.Out));

        var host = new Argument<string>("host") { Description = "Host name (goes into the certificate's SAN)" };
        var ips = new Option<string[]>("--ip") { Description = "An address of the host (repeatable)", Arity = ArgumentArity.ZeroOrMore };
        var issue = new Command("issue", "Issue HOST.crt and HOST.key in --dir, signed by the CA there") { host, ips, dir };
        issue.SetAction(result => Issue(result.GetValue(dir)!, result.GetValue(host)!, result.GetValue(ips) ?? [], Console.Out));

        return new Command("ca", "Mutual-TLS material: the cluster CA and host certificates") { init, issue };
    }

    public static int Init(string directory, TextWriter output)
    {
        if (File.Exists(CertificateFiles.CertificatePath(directory, CertificateFiles.AuthorityName)))
            throw new CliException($"{CertificateFiles.CertificatePath(directory, CertificateFiles.AuthorityName)} already exists; a new CA would invalidate every host certificate (remove it first to start over)");
        // A random suffix tells two clusters' CAs apart in logs and error messages.
        using var authority = ClusterCertificates.CreateAuthority($"Picojump cluster CA {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        CertificateFiles.Write(directory, CertificateFiles.AuthorityName, authority);
        output.WriteLine($"Created {authority.Subject} in {directory} (ca.crt, ca.key), valid until {authority.NotAfter:yyyy-MM-dd}");
        return 0;
    }

    public static int Issue(string directory, string host, IReadOnlyList<string> ips, TextWriter output)
    {
        if (!IsHostName(host))
            throw new CliException($"'{host}' is not a host name (letters, digits, '-' and '.')");
        var addresses = ips.Select(ip => IPAddress.TryParse(ip, out var address) ? address : throw new CliException($"--ip {ip}: not an IP address")).ToList();
        using var authority = CertificateFiles.Read(directory, CertificateFiles.AuthorityName, withKey: true);
        using var certificate = ClusterCertificates.IssueHost(authority, host, addresses);
        CertificateFiles.Write(directory, host, certificate);
        output.WriteLine($"Issued {CertificateFiles.CertificatePath(directory, host)} and {host}.key for {host}{string.Concat(addresses.Select(a => $", {a}"))}, valid until {certificate.NotAfter:yyyy-MM-dd}");
        return 0;
    }

    /// <summary>A DNS name; also keeps the name safe to use as a file name.</summary>
    public static bool IsHostName(string name)
        => name.Length is > 0 and <= 253 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.')
           && !name.StartsWith('.') && !name.StartsWith('-') && !name.Contains("..", StringComparison.Ordinal);
}
