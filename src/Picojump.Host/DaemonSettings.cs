using System.Net;
using System.Text.Json;

namespace Picojump.Host;

/// <summary>
/// What picojumpd serves, from the config file (JSON) with command-line overrides.
/// Every problem is reported as one line naming the key.
/// </summary>
public sealed record DaemonSettings
{
    public const string DefaultConfigPath = "/etc/picojump/picojumpd.json";

    public const string DefaultControlSocket = "/run/picojump/control.sock";

    /// <summary>sun_path holds 108 bytes, the terminating NUL included.</summary>
    public const int MaxSocketPathBytes = 107;

    public string? Export { get; init; }

    public string? Mountpoint { get; init; }

    /// <summary>Use FUSE passthrough for local files when the kernel offers it.</summary>
    public bool Passthrough { get; init; } = true;

    /// <summary>Threads serving FUSE requests; 0 picks from the core count.</summary>
    public int ReaderThreads { get; init; }

    /// <summary>How long the kernel caches names and attributes, in seconds.</summary>
    public double CacheSeconds { get; init; } = 1.0;

    /// <summary>This host's name in the cluster (what peers call it).</summary>
    public string? HostName { get; init; }

    /// <summary>Where the peer API listens (mutual TLS); null: a single host, no peer API.</summary>
    public IPEndPoint? Listen { get; init; }

    public IReadOnlyList<PeerSetting> Peers { get; init; } = [];

    /// <summary>
    /// Where the Prometheus endpoint (GET /metrics, plain HTTP) listens; null (the default):
    /// no endpoint. Off by default: an open port is a choice, and several daemons on one
    /// machine (tests, a dev cluster's root namespace) would fight over a fixed one.
    /// </summary>
    public IPEndPoint? MetricsListen { get; init; }

    public TlsSettings? Tls { get; init; }

    /// <summary>Where the daemon keeps what must survive a restart (its jobs, in jobs/).</summary>
    public string StateDir { get; init; } = "/var/lib/picojump";

    /// <summary>Where the block cache of remote files keeps its log and checkpoints.</summary>
    public string CacheDir { get; init; } = "/var/lib/picojump/cache";

    /// <summary>The block cache's memory budget; the rest of it lives in its file.</summary>
    public int CacheMemoryMiB { get; init; } = 256;

    /// <summary>The block cache's bound, memory and file together; older blocks are evicted.</summary>
    public int CacheSizeMiB { get; init; } = 4096;

    /// <summary>Where the page store (memory pages of jobs that ran or passed here, by content hash) lives; null: STATE/pages.</summary>
    public string? PageStoreDir { get; init; }

    /// <summary>The page store's bound on disk; the oldest pages are evicted past it.</summary>
    public int PageStoreSizeMiB { get; init; } = 8192;

    /// <summary>The page store directory in effect.</summary>
    public string EffectivePageStoreDir => PageStoreDir ?? Path.Combine(StateDir, "pages");

    /// <summary>The bound on every remote operation: past it, it fails with ETIMEDOUT.</summary>
    public double PeerTimeoutSeconds { get; init; } = 5;

    /// <summary>Hybrid migration: how long a destination keeps asking an unreachable source for missing pages before the job is declared lost.</summary>
    public double HybridPatienceSeconds { get; init; } = 60;

    /// <summary>The locality policy: whether and how this host moves its jobs towards their data.</summary>
    public PolicySettings Policy { get; init; } = new();

    /// <summary>The Unix socket of the control API (pjctl); only root may connect.</summary>
    public string ControlSocket { get; init; } = DefaultControlSocket;

    /// <summary>Reads <paramref name="path"/>; a missing default file means built-in defaults.</summary>
    public static DaemonSettings Load(string? path)
    {
        var explicitPath = path != null;
        path ??= DefaultConfigPath;
        if (!File.Exists(path))
        {
            if (explicitPath)
                throw new SettingsException($"config file {path} does not exist");
            return new DaemonSettings();
        }
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new SettingsException($"config file {path}: expected a JSON object");
            var settings = new DaemonSettings();
            foreach (var property in document.RootElement.EnumerateObject())
                settings = settings.With(path, property);
            return settings;
        }
        catch (JsonException ex)
        {
            throw new SettingsException($"config file {path}: not valid JSON ({ex.Message})");
        }
    }

    private DaemonSettings With(string path, JsonProperty property)
    {
        var value = property.Value;
        string Where() => $"config file {path}: key \"{property.Name}\"";
        return property.Name switch
        {
            "export" when value.ValueKind == JsonValueKind.String => this with { Export = value.GetString() },
            "mountpoint" when value.ValueKind == JsonValueKind.String => this with { Mountpoint = value.GetString() },
            "passthrough" when value.ValueKind is JsonValueKind.True or JsonValueKind.False => this with { Passthrough = value.GetBoolean() },
            // TryGet* throw on anything but a number, so the kind is checked first.
            "readerThreads" when value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) && n is >= 0 and <= 64 => this with { ReaderThreads = n },
            "cacheSeconds" when value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var s) && s is >= 0 and <= 3600 => this with { CacheSeconds = s },
            "hostName" when value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } name => this with { HostName = name },
            "listen" when value.ValueKind == JsonValueKind.String && IPEndPoint.TryParse(value.GetString()!, out var endpoint) && endpoint.Port > 0 => this with { Listen = endpoint },
            "metricsListen" when value.ValueKind == JsonValueKind.String && IPEndPoint.TryParse(value.GetString()!, out var metrics) && metrics.Port > 0 => this with { MetricsListen = metrics },
            "cacheDir" when value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } dir => this with { CacheDir = dir },
            "stateDir" when value.ValueKind == JsonValueKind.String && value.GetString() is { } state && Path.IsPathFullyQualified(state) => this with { StateDir = state },
            "cacheMemoryMiB" when value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var m) && m is >= 16 and <= 1 << 20 => this with { CacheMemoryMiB = m },
            "cacheSizeMiB" when value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var z) && z is >= 16 and <= 1 << 24 => this with { CacheSizeMiB = z },
            "pageStoreDir" when value.ValueKind == JsonValueKind.String && value.GetString() is { } pages && Path.IsPathFullyQualified(pages) => this with { PageStoreDir = pages },
            "pageStoreSizeMiB" when value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var p) && p is >= 64 and <= 1 << 24 => this with { PageStoreSizeMiB = p },
            "peerTimeoutSeconds" when value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var t) && t is >= 0.1 and <= 600 => this with { PeerTimeoutSeconds = t },
            "hybridPatienceSeconds" when value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var h) && h is >= 1 and <= 86400 => this with { HybridPatienceSeconds = h },
            "controlSocket" when value.ValueKind == JsonValueKind.String && IsSocketPath(value.GetString()!) => this with { ControlSocket = value.GetString()! },
            "peers" => this with { Peers = PeerSetting.Parse(value, $"config file {path}", property.Name) },
            "tls" => this with { Tls = TlsSettings.Parse(value, $"config file {path}", property.Name) },
            "policy" => this with { Policy = PolicySettings.Parse(value, $"config file {path}", property.Name) },
            "hostName" => throw new SettingsException($"{Where()} must be a non-empty string"),
            "listen" => throw new SettingsException($"{Where()} must be \"ADDRESS:PORT\" with an IP address and a port from 1 to 65535"),
            "metricsListen" => throw new SettingsException($"{Where()} must be \"ADDRESS:PORT\" with an IP address and a port from 1 to 65535 (e.g. \"127.0.0.1:9464\")"),
            "export" or "mountpoint" => throw new SettingsException($"{Where()} must be a path string"),
            "controlSocket" => throw new SettingsException($"{Where()} must be an absolute path of at most {MaxSocketPathBytes} bytes"),
            "passthrough" => throw new SettingsException($"{Where()} must be true or false"),
            "readerThreads" => throw new SettingsException($"{Where()} must be an integer from 0 to 64"),
            "cacheDir" => throw new SettingsException($"{Where()} must be a path string"),
            "stateDir" => throw new SettingsException($"{Where()} must be an absolute path"),
            "pageStoreDir" => throw new SettingsException($"{Where()} must be an absolute path"),
            "pageStoreSizeMiB" => throw new SettingsException($"{Where()} must be an integer number of MiB from 64 to 16777216"),
            "cacheMemoryMiB" => throw new SettingsException($"{Where()} must be an integer number of MiB from 16 to 1048576"),
            "cacheSizeMiB" => throw new SettingsException($"{Where()} must be an integer number of MiB from 16 to 16777216"),
            "peerTimeoutSeconds" => throw new SettingsException($"{Where()} must be a number of seconds from 0.1 to 600"),
            "hybridPatienceSeconds" => throw new SettingsException($"{Where()} must be a number of seconds from 1 to 86400"),
            "cacheSeconds" => throw new SettingsException($"{Where()} must be a number of seconds from 0 to 3600"),
            _ => throw new SettingsException($"{Where()} is not a known setting"),
        };
    }

    private static bool IsSocketPath(string path)
        => Path.IsPathFullyQualified(path) && !path.EndsWith('/') && System.Text.Encoding.UTF8.GetByteCount(path) <= MaxSocketPathBytes;

    /// <summary>An ADDRESS:PORT from the command line, or null when not given.</summary>
    public static IPEndPoint? ParseListen(string? text, string option)
    {
        if (text == null)
            return null;
        return IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port > 0
            ? endpoint
            : throw new SettingsException($"{option} must be ADDRESS:PORT with an IP address and a port from 1 to 65535, not \"{text}\"");
    }

    /// <summary>Checks that the settings can be served, before anything is mounted.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Export))
            throw new SettingsException("no export directory: give --export DIR or \"export\" in the config file");
        if (string.IsNullOrEmpty(Mountpoint))
            throw new SettingsException("no mountpoint: give --mountpoint DIR or \"mountpoint\" in the config file");
        if (!Directory.Exists(Export))
            throw new SettingsException($"export directory {Export} does not exist");
        if (Path.GetFullPath(Mountpoint).StartsWith(Path.GetFullPath(Export).TrimEnd('/') + "/", StringComparison.Ordinal))
            throw new SettingsException($"mountpoint {Mountpoint} lies inside the export {Export}");
        if (string.IsNullOrEmpty(CacheDir))
            throw new SettingsException("key \"cacheDir\" must be a path string");
        if (CacheSizeMiB < 2L * CacheMemoryMiB)
            throw new SettingsException($"key \"cacheSizeMiB\" ({CacheSizeMiB}) must be at least twice \"cacheMemoryMiB\" ({CacheMemoryMiB})");
        if (MetricsListen != null && Listen != null && MetricsListen.Port == Listen.Port
            && (MetricsListen.Address.Equals(Listen.Address) || IPAddress.Any.Equals(Listen.Address) || IPAddress.Any.Equals(MetricsListen.Address)))
            throw new SettingsException($"key \"metricsListen\" ({MetricsListen}) must not be the peer API's address (\"listen\": {Listen})");
        if (!IsSocketPath(ControlSocket))
            throw new SettingsException($"control socket {ControlSocket} must be an absolute path of at most {MaxSocketPathBytes} bytes");
        if (Listen == null)
        {
            if (Peers.Count > 0)
                throw new SettingsException("\"peers\" needs \"listen\", \"hostName\" and \"tls\" in the config file");
            return;
        }
        if (HostName == null)
            throw new SettingsException("\"listen\" needs \"hostName\" in the config file");
        if (Tls == null)
            throw new SettingsException("\"listen\" needs \"tls\" (ca, cert, key) in the config file");
        foreach (var (key, file) in new[] { ("tls.ca", Tls.Ca), ("tls.cert", Tls.Cert), ("tls.key", Tls.Key) })
            if (!File.Exists(file))
                throw new SettingsException($"key \"{key}\": {file} does not exist");
    }
}

public sealed class SettingsException : Exception
{
    public SettingsException(string message) : base(message) { }

    public SettingsException() { }

    public SettingsException(string message, Exception inner) : base(message, inner) { }
}
