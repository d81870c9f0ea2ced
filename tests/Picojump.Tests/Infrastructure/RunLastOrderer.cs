using Xunit.Abstractions;
using Xunit.Sdk;

namespace Picojump.Tests.Infrastructure;

/// <summary>Marks a test that ends what its class's fixture set up, so it must run after the others.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RunLastAttribute : Attribute;

/// <summary>Runs the tests of a class by name, those marked <see cref="RunLastAttribute"/> last.</summary>
public sealed class RunLastOrderer : ITestCaseOrderer
{
    public const string TypeName = "Picojump.Tests.Infrastructure.RunLastOrderer";
    public const string AssemblyName = "Picojump.Tests";

    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases) where TTestCase : ITestCase
        => testCases
            .OrderBy(t => t.TestMethod.Method.GetCustomAttributes(typeof(RunLastAttribute).AssemblyQualifiedName).Any())
            .ThenBy(t => t.TestMethod.Method.Name, StringComparer.Ordinal);
}
