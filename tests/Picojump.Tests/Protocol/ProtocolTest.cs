namespace Picojump.Tests.Protocol;

/// <summary>
/// A fresh server over a socket pair for every test. After the test, the server must have met
/// no exception, and whatever <see cref="CheckAfterTest"/> adds must hold, before it goes.
/// </summary>
public abstract class ProtocolTest : IDisposable
{
    private protected const uint Root = FuseTestClient.Root;

    private protected ProtocolHarness Harness { get; } = new();

    private protected FuseTestClient Client => Harness.Client;

    /// <summary>By default: every reply the server sent was claimed by the test.</summary>
    private protected virtual void CheckAfterTest() => Assert.Empty(Client.Unclaimed);

    public void Dispose()
    {
        try
        {
            CheckAfterTest();
            Harness.AssertNoExceptionsLogged();
        }
        finally
        {
            Harness.Dispose();
        }
        GC.SuppressFinalize(this);
    }
}
