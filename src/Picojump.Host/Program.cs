using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Fuse;
using Picojump.Fs.Local;
using Picojump.Host;

var exportOption = new Option<string?>("--export") { Description = "Directory this host exports into /pj" };
var mountpointOption = new Option<string?>("--mountpoint") { Description = "Where to mount the namespace (usually /pj)" };
var configOption = new Option<string?>("--config") { Description = $"JSON config file (default {DaemonSettings.DefaultConfigPath} if present)" };
var noPassthroughOption = new Option<bool>("--no-passthrough") { Description = "Serve every read and write in the daemon, without FUSE passthrough" };
var root = new RootCommand("picojumpd: the Picojump daemon; serves /pj until SIGINT or SIGTERM")
{
    exportOption, mountpointOption, configOption, noPassthroughOption,
};

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    Console.Error.WriteLine($"picojumpd: {parsed.Errors[0].Message} (see picojumpd --help)");
    return 2;
}
if (parsed.Action is not null && parsed.Action.GetType().Name is "HelpAction" or "VersionAction")
    return parsed.Invoke();

DaemonSettings settings;
FuseMount mount;
LocalFileSystem fileSystem;
using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
try
{
    settings = DaemonSettings.Load(parsed.GetValue(configOption));
    settings = settings with
    {
        Export = parsed.GetValue(exportOption) ?? settings.Export,
        Mountpoint = parsed.GetValue(mountpointOption) ?? settings.Mountpoint,
        Passthrough = settings.Passthrough && !parsed.GetValue(noPassthroughOption),
    };
    settings.Validate();
    var cache = TimeSpan.FromSeconds(settings.CacheSeconds);
    fileSystem = LocalFileSystem.Open(settings.Export!, new LocalFileSystemOptions { EntryTimeout = cache, AttrTimeout = cache },
        loggerFactory.CreateLogger<LocalFileSystem>());
    mount = FuseMount.Mount(settings.Mountpoint!, fsName: "picojump", subtype: "picojump");
}
catch (Exception ex) when (ex is SettingsException or FuseMountException or DirectoryNotFoundException)
{
    Console.Error.WriteLine($"picojumpd: {ex.Message}");
    return 1;
}

// The content root is where the host watches for appsettings.json, recursively. Left at the
// working directory (/ under systemd), that watch walks the whole tree into our own mount,
// whose first stat blocks forever because the FUSE readers start only after the build.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
builder.Logging.ClearProviders();
// Under systemd, stdout is the journal (JOURNAL_STREAM): log in its format, with priorities.
if (Environment.GetEnvironmentVariable("JOURNAL_STREAM") != null)
    builder.Logging.AddSystemdConsole();
else
    builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
builder.Services.AddSingleton(settings);
builder.Services.AddSingleton(mount);
builder.Services.AddSingleton(fileSystem);
builder.Services.AddSingleton(new FuseServerOptions
{
    Passthrough = settings.Passthrough,
    ReaderThreads = settings.ReaderThreads > 0 ? settings.ReaderThreads : new FuseServerOptions().ReaderThreads,
});
builder.Services.AddHostedService<FileSystemService>();
builder.Services.AddHostedService<SystemdNotifier>();
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
await builder.Build().RunAsync();
return 0;
