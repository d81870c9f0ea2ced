namespace Picojump.Migrator.Pages;

/// <summary>One page of a dump: where it lives in the job's address space and what it holds.</summary>
public readonly record struct PageRef(ulong Vaddr, PageHash Hash);
