#!/usr/bin/env python3
"""Writes bench/results/e2e.md from the JSON of `pjctl demo --json` per size (bench/e2e)."""
import argparse
import json
from pathlib import Path

MIB = 1 << 20
NOTES = []
RUNS = [("picojump", "Picojump"), ("pinned", "Pinned to h1"), ("copy-first", "Copy to h1 first")]
TARGETS = [("pinned", 0.6), ("copy-first", 0.8)]


def note(text):
    NOTES.append(text)
    return len(NOTES)


def load(raw, size):
    err = raw / f"{size}.err"
    if err.exists():
        return None, err.read_text().strip()
    try:
        return json.loads((raw / f"{size}.json").read_text()), None
    except (OSError, ValueError) as e:
        return None, f"no JSON from pjctl demo ({e})"


def label(size, doc):
    mib = doc["sizeMiB"] if doc else None
    text = f"{mib:,} MiB" if mib else f"{size} MiB"
    return f"default ({text})" if size == "default" else text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--sizes", required=True)
    ap.add_argument("--passes", required=True, type=int)
    ap.add_argument("--info", action="append", default=[])
    args = ap.parse_args()
    sizes = args.sizes.split(",")
    data = {s: load(args.raw, s) for s in sizes}

    out = []
    w = out.append
    w("# bench/e2e: a job that follows its data, against staying put and copying first")
    w("")
    w("`pjctl demo` at several dataset sizes: one python3 job reads three datasets in phases")
    w(f"(A on h2, B on h3, C on h2; {args.passes} passes over each), started on h1 of a 3-host dev")
    w("cluster whose block caches (64 MiB) are smaller than any dataset, three ways: with Picojump")
    w("(the policy moves the job), pinned to h1 (remote I/O), and after copying the data to h1.")
    w("Written by `bench/e2e`; re-run it rather than edit this file.")
    w("")
    for item in args.info:
        key, _, value = item.partition("=")
        w(f"- **{key}**: {value}")
    w("")
    w("## Runtime (seconds, wall clock, the copy included) and ratios")
    w("")
    w("| Datasets (each) | Picojump | Pinned to h1 | Copy to h1 first (copy) | Picojump / pinned | Picojump / copy-first | Moves (freeze) |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for s in sizes:
        doc, error = data[s]
        if doc is None:
            w(f"| {label(s, doc)} | failed [{note(f'{label(s, doc)}: {error}')}] | | | | | |")
            continue
        runs = {r["name"]: r for r in doc["runs"]}
        p, pin, copy = runs["picojump"], runs["pinned"], runs["copy-first"]
        moves = ", ".join(f"{m['from']}->{m['to']} ({m['freezeMs'] / 1000:.2f} s)" for m in p["moves"]) or "none"
        w(f"| {label(s, doc)} | {p['seconds']:.1f} | {pin['seconds']:.1f} | {copy['seconds']:.1f} ({copy['copySeconds']:.1f}) "
          f"| {doc['picojumpVsPinned']:.2f}x | {doc['picojumpVsCopyFirst']:.2f}x | {moves} |")
    w("")
    w("## Network MiB (bytes the cluster's links carried during each run)")
    w("")
    w("| Datasets (each) | Picojump | Pinned to h1 | Copy to h1 first |")
    w("| --- | ---: | ---: | ---: |")
    for s in sizes:
        doc, _ = data[s]
        if doc is None:
            continue
        runs = {r["name"]: r for r in doc["runs"]}
        w(f"| {label(s, doc)} | " + " | ".join(f"{runs[k]['networkBytes'] / MIB:,.0f}" for k, _ in RUNS) + " |")
    w("")
    w("## Targets (the demo's default size)")
    w("")
    w("| Target | Goal | Measured | Result | Note |")
    w("| --- | --- | ---: | --- | --- |")
    doc, error = data.get("default", (None, "not run (--sizes has no \"default\")"))
    for name, goal in TARGETS:
        what = {"pinned": "the pinned run's time", "copy-first": "the copy-first run's time"}[name]
        if doc is None:
            w(f"| Picojump vs {name} | <= {goal}x {what} | | n/a | {error} |")
            continue
        ratio = doc["picojumpVsPinned"] if name == "pinned" else doc["picojumpVsCopyFirst"]
        w(f"| Picojump vs {name} | <= {goal}x {what} | {ratio:.2f}x | {'PASS' if ratio <= goal else 'MISS'} | datasets of {doc['sizeMiB']:,} MiB |")
    w("")
    if NOTES:
        w("## Failed measurements")
        w("")
        for i, text in enumerate(NOTES, 1):
            w(f"{i}. {text}")
        w("")
    w("## Method")
    w("")
    w("""- Each size is one `pjctl demo --json --size N --passes P` (`default`: no `--size`; the
  demo reads a 64 MiB warm-up sample and then two 256 MiB samples from h2 on h1 and sizes
  each dataset to what h1 reads from h2 in 10 s at the faster of the two, from 128 MiB to
  2 GiB). The demo brings up its own 3-host dev cluster (network
  and mount namespaces on this one machine, joined by a bridge), with `cacheMemoryMiB` 16 and
  `cacheSizeMiB` 64 on every host and the policy tuned to react within seconds (window 2 s,
  evaluation every 0.5 s, cooldown 3 s; the daemon's defaults wait for 30 s windows), writes
  the datasets (random bytes, files of at most 64 MiB) into h2's and h3's exports, and takes
  the cluster down at the end.
- The job (`src/Picojump.Cli/Demo/phases.py`, an ordinary python3 program) reads every file of
  A, then B, then C, P times each, with a CRC-32, and drops each file's pages from its host's
  page cache after reading it (`posix_fadvise(DONTNEED)`), as a job streaming more data than
  memory: each pass reads through the file system again. The three runs must print the same
  CRCs, or the demo fails.
- Picojump: `pjctl --host h1 run` and the policy of the job's host moves it (eager migration).
  Pinned: `pjctl --host h1 run --pin`: every pass of every dataset crosses the network (the
  64 MiB block cache cannot hold a dataset). Copy first: `cp -r` of the three datasets from
  h2 and h3 through h1's `/pj` into h1's export, then the pinned job on the copies; its time
  includes the copy. Runs go in that order, one at a time.
- Runtime: wall clock from `pjctl run` until `pjctl ps` shows the job ended (polled every
  0.5 s), plus the copy. Network MiB: the bytes the switch delivered to the hosts (tx counters
  of its ports), so file data, copies, migrations, heartbeats and TLS alike.
- One run per size, no repetitions, on a machine shared with other work (see the load
  average): treat differences of a few tens of percent as noise. The copy-first comparison
  depends on the ratio of a dataset's remote read time to the policy's reaction plus a move:
  the larger the datasets, the better Picojump does against it.""")
    args.out.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
