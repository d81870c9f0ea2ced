using System.Text.Json;
using Picojump.Migrator.Policy;

namespace Picojump.Host;

/// <summary>
/// The "policy" object of picojumpd.json: whether this host moves its jobs towards their data,
/// how often it looks, and the knobs of <see cref="PolicyOptions"/>. Every key is optional.
/// </summary>
public sealed record PolicySettings
{
    private static readonly PolicyOptions Defaults = new();

    /// <summary>Off: this host's jobs move only when asked (pjctl migrate); other hosts may still move theirs here.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>How often each running job is evaluated. 2 s: two evaluations (the hysteresis) take 4 s.</summary>
    public double IntervalSeconds { get; init; } = 2;

    public double WindowSeconds { get; init; } = Defaults.Window.TotalSeconds;

    public double MinRemoteShare { get; init; } = Defaults.MinRemoteShare;

    public double MarginFactor { get; init; } = Defaults.MarginFactor;

    public double MarginSeconds { get; init; } = Defaults.MarginAbsolute.TotalSeconds;

    public int Hysteresis { get; init; } = Defaults.Hysteresis;

    public double CooldownSeconds { get; init; } = Defaults.Cooldown.TotalSeconds;

    public double ReturnCooldownSeconds { get; init; } = Defaults.ReturnCooldown.TotalSeconds;

    public double ReturnMarginFactor { get; init; } = Defaults.ReturnMarginFactor;

    public int ReturnHysteresis { get; init; } = Defaults.ReturnHysteresis;

    /// <summary>"eager" or "hybrid": how an automatic move migrates the job.</summary>
    public string Mode { get; init; } = "eager";

    /// <summary>
    /// The bandwidth assumed on every link, in MiB/s (the heartbeat measures round trips, not
    /// bandwidth). 100: about a 1 Gbit/s network.
    /// </summary>
    public double BandwidthMiBps { get; init; } = 100;

    /// <summary>The freeze expected of a job's first move (later ones expect their last move's freeze). 0.5 s: CRIU's dump and restore of a small job.</summary>
    public double FreezeSeconds { get; init; } = 0.5;

    public PolicyOptions ToOptions() => new()
    {
        Window = TimeSpan.FromSeconds(WindowSeconds),
        MinRemoteShare = MinRemoteShare,
        MarginFactor = MarginFactor,
        MarginAbsolute = TimeSpan.FromSeconds(MarginSeconds),
        Hysteresis = Hysteresis,
        Cooldown = TimeSpan.FromSeconds(CooldownSeconds),
        ReturnCooldown = TimeSpan.FromSeconds(ReturnCooldownSeconds),
        ReturnMarginFactor = ReturnMarginFactor,
        ReturnHysteresis = ReturnHysteresis,
    };

    public static PolicySettings Parse(JsonElement value, string file, string key)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SettingsException($"{file}: key \"{key}\" must be an object (e.g. {{\"enabled\": true, \"intervalSeconds\": 2}})");
        var settings = new PolicySettings();
        foreach (var property in value.EnumerateObject())
            settings = settings.With(property, $"{file}: key \"{key}.{property.Name}\"");
        if (settings.ReturnHysteresis < settings.Hysteresis)
            throw new SettingsException($"{file}: key \"{key}.returnHysteresis\" ({settings.ReturnHysteresis}) must be at least \"{key}.hysteresis\" ({settings.Hysteresis})");
        return settings;
    }

    private PolicySettings With(JsonProperty property, string where)
    {
        var value = property.Value;
        // TryGet* throw on anything but a number, so the kind is checked first.
        double? Number(double min, double max)
            => value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var n) && n >= min && n <= max ? n : null;
        int? Integer(int min, int max)
            => value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) && n >= min && n <= max ? n : null;
        return property.Name switch
        {
            "enabled" when value.ValueKind is JsonValueKind.True or JsonValueKind.False => this with { Enabled = value.GetBoolean() },
            "mode" when value.ValueKind == JsonValueKind.String && value.GetString() is "eager" or "hybrid" => this with { Mode = value.GetString()! },
            "intervalSeconds" when Number(0.1, 3600) is { } n => this with { IntervalSeconds = n },
            "windowSeconds" when Number(1, 60) is { } n => this with { WindowSeconds = n },
            "minRemoteShare" when Number(0, 0.99) is { } n => this with { MinRemoteShare = n },
            "marginFactor" when Number(1, 1000) is { } n => this with { MarginFactor = n },
            "marginSeconds" when Number(0, 3600) is { } n => this with { MarginSeconds = n },
            "hysteresis" when Integer(1, 100) is { } n => this with { Hysteresis = n },
            "cooldownSeconds" when Number(0, 86400) is { } n => this with { CooldownSeconds = n },
            "returnCooldownSeconds" when Number(0, 86400) is { } n => this with { ReturnCooldownSeconds = n },
            "returnMarginFactor" when Number(1, 1000) is { } n => this with { ReturnMarginFactor = n },
            "returnHysteresis" when Integer(1, 100) is { } n => this with { ReturnHysteresis = n },
            "bandwidthMiBps" when Number(0.01, 1 << 20) is { } n => this with { BandwidthMiBps = n },
            "freezeSeconds" when Number(0, 3600) is { } n => this with { FreezeSeconds = n },
            "enabled" => throw new SettingsException($"{where} must be true or false"),
            "mode" => throw new SettingsException($"{where} must be \"eager\" or \"hybrid\""),
            "intervalSeconds" => throw new SettingsException($"{where} must be a number of seconds from 0.1 to 3600"),
            "windowSeconds" => throw new SettingsException($"{where} must be a number of seconds from 1 to 60"),
            "minRemoteShare" => throw new SettingsException($"{where} must be a number from 0 to 0.99"),
            "marginFactor" or "returnMarginFactor" => throw new SettingsException($"{where} must be a number from 1 to 1000"),
            "marginSeconds" => throw new SettingsException($"{where} must be a number of seconds from 0 to 3600"),
            "hysteresis" or "returnHysteresis" => throw new SettingsException($"{where} must be an integer from 1 to 100"),
            "cooldownSeconds" or "returnCooldownSeconds" => throw new SettingsException($"{where} must be a number of seconds from 0 to 86400"),
            "bandwidthMiBps" => throw new SettingsException($"{where} must be a number of MiB/s from 0.01 to 1048576"),
            "freezeSeconds" => throw new SettingsException($"{where} must be a number of seconds from 0 to 3600"),
            _ => throw new SettingsException($"{where} is not a known setting"),
        };
    }
}
