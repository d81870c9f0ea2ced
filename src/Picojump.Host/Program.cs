using System.CommandLine;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Cache;
using Picojump.Fs.Accounting;
using Picojump.Fs.Cluster;
using Picojump.Fs.Fuse;
using Picojump.Fs.Local;
using Picojump.Fs.Union;
using Picojump.Fs.WorkingSet;
using Picojump.Host;
using Picojump.Host.Control;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Migration;
using Picojump.Migrator.Pages;
using Picojump.Migrator.Policy;

var exportOption = new Option<string?>("--export") { Description = "Directory this host exports into /pj" };
var mountpointOption = new Option<string?>("--mountpoint") { Description = "Where to mount the namespace (usually /pj)" };
var configOption = new Option<string?>("--config") { Description = $"JSON config file (default {DaemonSettings.DefaultConfigPath} if present)" };
var controlSocketOption = new Option<string?>("--control-socket") { Description = $"Unix socket of the control API (default {DaemonSettings.DefaultControlSocket})" };
var noPassthroughOption = new Option<bool>("--no-passthrough") { Description = "Serve every read and write in the daemon, without FUSE passthrough" };
var hostNameOption = new Option<string?>("--host-name") { Description = "This host's name in the cluster (config key hostName)" };
var listenOption = new Option<string?>("--listen") { Description = "ADDRESS:PORT of the peer API (config key listen)" };
var cacheDirOption = new Option<string?>("--cache-dir") { Description = "Directory of the block cache (config key cacheDir)" };
var cacheSizeOption = new Option<int?>("--cache-size-mib") { Description = "Bound of the block cache in MiB (config key cacheSizeMiB)" };
var root = new RootCommand("picojumpd: the Picojump daemon; serves /pj until SIGINT or SIGTERM")
{
    exportOption, mountpointOption, configOption, controlSocketOption, noPassthroughOption,
    hostNameOption, listenOption, cacheDirOption, cacheSizeOption,
};

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    Console.Error.WriteLine($"picojumpd: {parsed.Errors[0].Message} (see picojumpd --help)");
    return 2;
}
if (parsed.Action is not null && parsed.Action.GetType().Name is "HelpAction" or "VersionAction")
    return parsed.Invoke();

var accounting = new AccessAccounting();
DaemonSettings settings;
FuseMount mount;
UnionFileSystem fileSystem;
PeerCertificates? peerCertificates = null;
ExportPeerService? peerService = null;
PeerSet? peers = null;
BlockCache? blockCache = null;
using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
try
{
    settings = DaemonSettings.Load(parsed.GetValue(configOption));
    settings = settings with
    {
        Export = parsed.GetValue(exportOption) ?? settings.Export,
        Mountpoint = parsed.GetValue(mountpointOption) ?? settings.Mountpoint,
        Passthrough = settings.Passthrough && !parsed.GetValue(noPassthroughOption),
        ControlSocket = parsed.GetValue(controlSocketOption) ?? settings.ControlSocket,
        HostName = parsed.GetValue(hostNameOption) ?? settings.HostName,
        Listen = DaemonSettings.ParseListen(parsed.GetValue(listenOption), "--listen") ?? settings.Listen,
        CacheDir = parsed.GetValue(cacheDirOption) ?? settings.CacheDir,
        CacheSizeMiB = parsed.GetValue(cacheSizeOption) ?? settings.CacheSizeMiB,
    };
    settings.Validate();
    if (settings.MetricsListen != null)
        PeerServer.CheckCanListen(settings.MetricsListen, "metricsListen");
    var cache = TimeSpan.FromSeconds(settings.CacheSeconds);
    var local = LocalFileSystem.Open(settings.Export!, new LocalFileSystemOptions { EntryTimeout = cache, AttrTimeout = cache },
        loggerFactory.CreateLogger<LocalFileSystem>());
    if (settings.Listen != null)
    {
        peerCertificates = PeerCertificates.Load(settings.Tls!);
        PeerServer.CheckCanListen(settings.Listen);
        if (settings.Peers.Count > 0)
        {
            var clientOptions = new PeerClientOptions
            {
                HostName = settings.HostName!,
                Authority = peerCertificates.Authority,
                Certificate = peerCertificates.Host,
                Timeout = TimeSpan.FromSeconds(settings.PeerTimeoutSeconds),
            };
            peers = new PeerSet(clientOptions, settings.Peers.Select(p => (p.Name, p.Address)), loggerFactory.CreateLogger<PeerSet>());
            blockCache = new BlockCache(new BlockCacheOptions
            {
                Directory = settings.CacheDir,
                MemoryBytes = (long)settings.CacheMemoryMiB << 20,
                MaxBytes = (long)settings.CacheSizeMiB << 20,
            }, loggerFactory.CreateLogger<BlockCache>());
        }
        peerService = new ExportPeerService(settings.Export!, settings.HostName!) { Cache = blockCache };
    }
    fileSystem = new UnionFileSystem(local, peers, blockCache,
        new UnionOptions { HostName = settings.HostName ?? Environment.MachineName, EntryTimeout = cache, AttrTimeout = cache },
        loggerFactory.CreateLogger<UnionFileSystem>())
    {
        Accounting = accounting,
        ExportService = peerService,
    };
    if (peerService != null)
        fileSystem.LocalChanged += peerService.PublishLocalChange;
    ControlSocket.Prepare(settings.ControlSocket);
    mount = FuseMount.Mount(settings.Mountpoint!, fsName: "picojump", subtype: "picojump");
}
catch (Exception ex) when (ex is SettingsException or FuseMountException or DirectoryNotFoundException or CryptographicException)
{
    Console.Error.WriteLine($"picojumpd: {ex.Message}");
    return 1;
}

// No defaults: they watch appsettings.json in the content root (the working directory)
// with a recursive inotify watcher that walks every directory below it. When the
// mountpoint lies below, that walk stats the mount before we serve it and the daemon
// deadlocks on its own mount (and it would watch all of /pj under systemd's cwd "/").
// The web host (control API, peer API) is therefore an empty builder: no config files.
var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
builder.Logging.ClearProviders();
// One line per peer request would drown what matters.
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
builder.Logging.AddFilter("Grpc", LogLevel.Warning);
// Under systemd, stdout is the journal (JOURNAL_STREAM): log in its format, with priorities.
if (Environment.GetEnvironmentVariable("JOURNAL_STREAM") != null)
    builder.Logging.AddSystemdConsole();
else
    builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
builder.Services.AddSingleton(settings);
builder.Services.AddSingleton(mount);
builder.Services.AddSingleton(fileSystem);
// Through factories, so that the container disposes them: the cache takes its last checkpoint.
if (peers != null)
    builder.Services.AddSingleton(_ => peers);
builder.Services.AddSingleton(accounting);
builder.Services.AddSingleton<IClusterStatusSource>(new ClusterStatus(peers, blockCache));
var jobManager = new JobManager(new JobManagerOptions
{
    HostName = settings.HostName ?? Environment.MachineName,
    Mountpoint = settings.Mountpoint!,
    StateDirectory = settings.StateDir,
    Locks = fileSystem,
}, loggerFactory.CreateLogger<JobManager>());
builder.Services.AddSingleton(jobManager);
// Migration needs peers: the page store and the coordinator exist only with the peer API.
PageStore? pageStore = null;
MigrationCoordinator? migrations = null;
if (settings.Listen != null)
{
    var storeBytes = (long)settings.PageStoreSizeMiB << 20;
    pageStore = new PageStore(new PageStoreOptions
    {
        Directory = settings.EffectivePageStoreDir,
        MaxBytes = storeBytes,
        MemoryBytes = Math.Clamp(storeBytes / 4, 16L << 20, 256L << 20),
    }, loggerFactory.CreateLogger<PageStore>());
    migrations = new MigrationCoordinator(jobManager, pageStore, peers, new MigrationOptions
    {
        HostName = settings.HostName!,
        StateDirectory = settings.StateDir,
        PeerTimeout = TimeSpan.FromSeconds(settings.PeerTimeoutSeconds),
        PageServerAddress = settings.Listen.Address,
        LazySourcePatience = TimeSpan.FromSeconds(settings.HybridPatienceSeconds),
    }, loggerFactory.CreateLogger<MigrationCoordinator>())
    {
        Accounting = accounting,
        Warmer = blockCache != null && peers != null
            ? new CacheWarmer(settings.HostName!, blockCache, peers, loggerFactory.CreateLogger<CacheWarmer>())
            : null,
    };
    builder.Services.AddSingleton(migrations);
    builder.Services.AddSingleton(pageStore);
    if (peerService != null)
        peerService.Usage = () => (blockCache?.Stats.BytesCached ?? 0, pageStore.Stats.BytesStored);
    builder.Services.AddHostedService<MigrationRecoveryService>();
}
var policy = new PolicyRunner(new PolicyEngine(settings.Policy.ToOptions(), TimeProvider.System), new PolicyRunnerOptions
{
    Enabled = settings.Policy.Enabled,
    Interval = TimeSpan.FromSeconds(settings.Policy.IntervalSeconds),
    Mode = settings.Policy.Mode == "hybrid" ? Picojump.Protos.Migration.Mode.Hybrid : Picojump.Protos.Migration.Mode.Eager,
    BytesPerSecond = settings.Policy.BandwidthMiBps * (1 << 20),
    FirstFreeze = TimeSpan.FromSeconds(settings.Policy.FreezeSeconds),
}, jobManager, accounting, peers, migrations, loggerFactory.CreateLogger<PolicyRunner>());
builder.Services.AddSingleton(policy);
builder.Services.AddHostedService<PolicyService>();
builder.Services.AddSingleton(new JobRouter(jobManager, peers, migrations, policy));
builder.Services.AddSingleton(new FuseServerOptions
{
    Passthrough = settings.Passthrough,
    ReaderThreads = settings.ReaderThreads > 0 ? settings.ReaderThreads : new FuseServerOptions().ReaderThreads,
});
builder.Services.AddHostedService<FileSystemService>();
builder.Services.AddHostedService<SystemdNotifier>();
builder.Services.AddHostedService<JobMonitorService>();
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
ControlServer.Configure(builder, settings.ControlSocket);
if (settings.Listen != null)
    PeerServer.Configure(builder, settings.Listen, peerCertificates!, peerService!);
if (settings.MetricsListen != null)
    MetricsServer.Configure(builder, settings.MetricsListen);
var app = builder.Build();
ControlServer.Map(app);
if (settings.Listen != null)
    PeerServer.Map(app);
if (settings.MetricsListen != null)
    MetricsServer.Map(app, settings.MetricsListen);
// Peers' invalidation streams last as long as the daemon: end them when it stops, or
// Kestrel waits for them until the shutdown timeout.
if (peerService != null)
    app.Lifetime.ApplicationStopping.Register(peerService.EndSubscriptions);
try
{
    await app.RunAsync();
}
catch (IOException ex)
{
    // Kestrel could not bind after all (the address or socket was taken since the checks):
    // the mount was never served, so it goes too.
    mount.Unmount();
    Console.Error.WriteLine($"picojumpd: cannot listen: {ex.Message}");
    return 1;
}
finally
{
    // After the mount is gone and nothing reads the cache: its last checkpoint, for the next start.
    blockCache?.Dispose();
    pageStore?.Dispose();
}
ControlSocket.Remove(settings.ControlSocket);
return 0;
