using Picojump.Cli.Demo;

namespace Picojump.Tests.Demo;

/// <summary>The demo's small parts: what it reads from its job's stdout as it grows, and its --size values.</summary>
public sealed class DemoPartsTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"pj-demo-stdout-{Guid.NewGuid():N}");

    public void Dispose() => File.Delete(_path);

    [Fact]
    public void The_job_output_is_read_as_it_grows_and_a_line_counts_once_it_is_whole()
    {
        var output = new JobOutput(_path);
        output.Read();
        Assert.Null(output.Progress);

        File.WriteAllText(_path, "phase A pass 1/3 file 1/4\nphase A pass 2/3 fi");
        output.Read();
        Assert.Equal(new JobProgress("A", 1, 3, 1, 4), output.Progress);

        File.AppendAllText(_path, "le 3/4\nphase A crc 0a1b2c3d seconds 9.12\nphase B pass 1/3 file 1/4\nnoise\n");
        output.Read();
        Assert.Equal(new JobProgress("B", 1, 3, 1, 4), output.Progress);
        Assert.Equal("0a1b2c3d", output.Checksums["A"]);
        Assert.Equal(1.0 / 3 + 2.0 / 12, new JobProgress("A", 2, 3, 3, 4).Fraction, 9);
    }

    [Theory]
    [InlineData("512M", 512)]
    [InlineData("512", 512)]
    [InlineData("2G", 2048)]
    [InlineData("1g", 1024)]
    [InlineData("0", null)]
    [InlineData("-5M", null)]
    [InlineData("lots", null)]
    [InlineData("65G", null)]
    public void A_size_is_MiB_or_G_within_bounds(string text, int? mib)
        => Assert.Equal(mib, DemoOptions.ParseSize(text));
}
