namespace Picojump.Cli.Infrastructure;

/// <summary>
/// A failure the user can act on: pjctl prints its message as one line on stderr and
/// exits with 1. Anything else that escapes a command is a bug and keeps its stack trace.
/// </summary>
public sealed class CliException : Exception
{
    public CliException(string message) : base(message) { }

    public CliException() { }

    public CliException(string message, Exception inner) : base(message, inner) { }
}
