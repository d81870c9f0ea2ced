#!/usr/bin/env python3
"""bench/cluster's results: reads the raw files of one run and writes the markdown report.

Raw files, KEY = TEST.SYSTEM.REP:
  tcp.raw.REP.json                 iperf3 --json of the client (h1, receiving)
  read-{cold,warm,hot}.SYS.REP.json, read-local.pj-h2.REP.json   {"bytes", "seconds"} of dd
  {stat,openclose}.SYS.REP.raw     one latency in ns per line (bench/lib/latency.c)
  KEY.err                          that measurement failed; one line saying why

  cluster_report.py --raw DIR --out FILE --size S --reps N --files N --tcp-seconds N --info K=V ...
"""
import argparse
import json
import statistics
from pathlib import Path

SYSTEMS = ["pj", "sshfs", "nfs"]
NAMES = {"pj": "Picojump /pj", "sshfs": "sshfs", "nfs": "NFS (kernel, v4.2)", "raw": "raw TCP", "pj-h2": "h2's local /pj"}
READS = [
    ("read-cold", "Sequential read, cold"),
    ("read-warm", "Sequential read, warm (page cache dropped)"),
    ("read-hot", "Sequential read, warm (page cache kept)"),
]
LATENCY = [("stat", "stat()"), ("openclose", "open() + close()")]


class Run:
    def __init__(self, raw, reps):
        self.raw, self.reps = raw, reps

    def error(self, key):
        path = self.raw / f"{key}.err"
        return path.read_text().strip() if path.exists() else None

    def throughput(self, test, system):
        """([MiB/s per successful repetition], [error per failed repetition])"""
        values, errors = [], []
        for rep in range(1, self.reps + 1):
            key = f"{test}.{system}.{rep}"
            path = self.raw / f"{key}.json"
            if path.exists():
                data = json.loads(path.read_text())
                if test == "tcp":
                    values.append(data["end"]["sum_received"]["bits_per_second"] / 8 / 2**20)
                else:
                    values.append(data["bytes"] / data["seconds"] / 2**20)
            else:
                errors.append(self.error(key) or "no result (the run stopped?)")
        return values, errors

    def latencies(self, op, system):
        """([latency in us of every call, all repetitions], [errors])"""
        values, errors = [], []
        for rep in range(1, self.reps + 1):
            key = f"{op}.{system}.{rep}"
            path = self.raw / f"{key}.raw"
            if path.exists():
                values += [int(line) / 1000 for line in path.read_text().split()]
            else:
                errors.append(self.error(key) or "no result (the run stopped?)")
        return values, errors


def percentile(values, p):
    """Nearest rank, as bench/lib/latency.c computes it."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def num(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}" if value >= 10 else f"{value:,.2f}"


NOTES = []   # the reasons of failed measurements, numbered in the report


def note(system, errors):
    """The number of the note that gives why SYSTEM's measurement failed."""
    text = f"{NAMES.get(system, system)}: " + "; ".join(dict.fromkeys(errors))
    if text not in NOTES:
        NOTES.append(text)
    return NOTES.index(text) + 1


def failed(system, errors):
    """The cell text of a figure none of whose repetitions worked: failed [n] or unavailable [n]."""
    prefix = "unavailable" if all(r.startswith("unavailable: ") for r in errors) else "failed"
    return f"{prefix} [{note(system, [r.removeprefix('unavailable: ') for r in errors])}]"


def partial(system, errors, reps):
    return f" ({len(errors)} of {reps} repetitions failed [{note(system, errors)}])" if errors else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--size", required=True)
    ap.add_argument("--reps", required=True, type=int)
    ap.add_argument("--files", required=True, type=int)
    ap.add_argument("--tcp-seconds", required=True, type=int)
    ap.add_argument("--info", action="append", default=[])
    args = ap.parse_args()
    run = Run(args.raw, args.reps)
    reps = args.reps

    med = {}      # (test, system) -> median MiB/s, when any repetition worked
    why = {}      # (test, system) -> cell text of a failure
    spread = {}   # (test, system) -> (min, max) / median
    for test, system in [("tcp", "raw"), ("read-local", "pj-h2")] + [(t, s) for t, _ in READS for s in SYSTEMS]:
        values, errors = run.throughput(test, system)
        if values:
            m = statistics.median(values)
            med[test, system] = m
            spread[test, system] = (min(values) / m, max(values) / m)
            why[test, system] = partial(system, errors, reps)
        else:
            why[test, system] = failed(system, errors)
    lat = {}      # (op, system) -> (p50, p99, calls)
    for op, _ in LATENCY:
        for system in SYSTEMS:
            values, errors = run.latencies(op, system)
            if values:
                lat[op, system] = (percentile(values, 50), percentile(values, 99), len(values))
                why[op, system] = partial(system, errors, reps)
            else:
                why[op, system] = failed(system, errors)

    tcp = med.get(("tcp", "raw"))

    def spread_text(test, system):
        lo, hi = spread[test, system]
        return f", repetitions {lo:.2f}-{hi:.2f}x the median" if reps > 1 else ""

    out = []
    w = out.append
    w("# bench/cluster: remote file access on a 2-host dev cluster")
    w("")
    w("h1 reads files that live on h2 (its export directory) through Picojump's `/pj`, sshfs and")
    w("the kernel NFS server, over the dev cluster's bridge, next to raw TCP on the same link.")
    w("Written by `bench/cluster`; re-run it rather than edit this file.")
    w("")
    for item in args.info:
        key, _, value = item.partition("=")
        w(f"- **{key}**: {value}")
    w("")
    w(f"## Throughput (MiB/s, median of {reps} repetition{'s' if reps > 1 else ''}; ratio to raw TCP)")
    w("")
    w(f"- **Raw TCP h2 -> h1** (iperf3, one stream, {args.tcp_seconds} s): "
      + (f"{num(tcp)} MiB/s ({tcp * 8 * 2**20 / 1e9:.1f} Gbit/s){spread_text('tcp', 'raw')}{why['tcp', 'raw']}" if tcp else why["tcp", "raw"]))
    local = med.get(("read-local", "pj-h2"))
    w(f"- **h2 reading its own /pj** (local, passthrough), page cache dropped: "
      + (f"{num(local)} MiB/s{spread_text('read-local', 'pj-h2')}{why['read-local', 'pj-h2']}" if local else why["read-local", "pj-h2"]))
    w("")
    w("| Test | " + " | ".join(NAMES[s] for s in SYSTEMS) + " |")
    w("| --- | " + " | ".join("---:" for _ in SYSTEMS) + " |")
    for test, label in READS:
        cells = []
        for s in SYSTEMS:
            if (test, s) in med:
                ratio = f" ({med[test, s] / tcp:.2f}x)" if tcp else ""
                cells.append(f"{num(med[test, s])}{ratio}{why[test, s]}")
            else:
                cells.append(why[test, s])
        w(f"| {label} | " + " | ".join(cells) + " |")
    w("")
    w(f"## Latency from h1 of files on h2 (microseconds; {args.files} calls per repetition, percentiles over all calls)")
    w("")
    w("| Call | " + " | ".join(f"{NAMES[s]} p50 | {NAMES[s]} p99" for s in SYSTEMS) + " |")
    w("| --- | " + " | ".join("---: | ---:" for _ in SYSTEMS) + " |")
    for op, label in LATENCY:
        cells = []
        for s in SYSTEMS:
            if (op, s) in lat:
                p50, p99, _ = lat[op, s]
                cells += [f"{num(p50)}{why[op, s]}", num(p99)]
            else:
                cells += [why[op, s], ""]
        w(f"| {label} | " + " | ".join(cells) + " |")
    w("")

    def ratio_goal(label, goal_text, num_key, den_key, den_name, goal, at_least):
        if num_key not in med and num_key not in lat:
            return f"| {label} | {goal_text} | | n/a | Picojump {why[num_key]} |"
        if den_key not in med and den_key not in lat:
            return f"| {label} | {goal_text} | | n/a | {den_name} {why[den_key]} |"
        a = med[num_key] if num_key in med else lat[num_key][0]
        b = med[den_key] if den_key in med else lat[den_key][0]
        r = a / b
        ok = r >= goal if at_least else r <= goal
        return f"| {label} | {goal_text} | {r:.2f}x | {'PASS' if ok else 'MISS'} | |"

    w("## Targets (Picojump)")
    w("")
    w("| Target | Goal | Measured | Result | Note |")
    w("| --- | --- | ---: | --- | --- |")
    w(ratio_goal("Cold remote read vs raw TCP", ">= 0.5x raw TCP", ("read-cold", "pj"), ("tcp", "raw"), "raw TCP", 0.5, True))
    w(ratio_goal("Cold remote read vs sshfs", ">= 1.5x sshfs", ("read-cold", "pj"), ("read-cold", "sshfs"), "sshfs", 1.5, True))
    w(ratio_goal("Warm remote read (page cache dropped) vs local /pj", ">= 0.8x h2's local /pj read",
                 ("read-warm", "pj"), ("read-local", "pj-h2"), "local /pj", 0.8, True))
    w(ratio_goal("Remote stat p50 vs NFS", "<= 2x NFS", ("stat", "pj"), ("stat", "nfs"), "NFS", 2.0, False))
    w("")
    if NOTES:
        w("## Failed measurements")
        w("")
        for i, text in enumerate(NOTES, 1):
            w(f"{i}. {text}")
        w("")
    if reps > 1:
        w("## Spread between repetitions (slowest to fastest, as a ratio to the median)")
        w("")
        w("| Test | " + " | ".join(NAMES[s] for s in SYSTEMS) + " |")
        w("| --- | " + " | ".join("---:" for _ in SYSTEMS) + " |")
        for test, label in READS:
            w(f"| {label} | " + " | ".join(f"{spread[test, s][0]:.2f}-{spread[test, s][1]:.2f}" if (test, s) in spread else ""
                                         for s in SYSTEMS) + " |")
        w("")
    w("## Method")
    w("")
    w(f"""- `pjctl devcluster up --hosts 2`: h1 and h2 are network + mount namespaces on one machine,
  joined by a bridge (veth pairs); every byte crosses that bridge, through the same kernel.
  Raw TCP is `iperf3 --reverse` from h1 to h2's address (h2 sends), one stream, {args.tcp_seconds} s:
  the most this machine moves over that link, the yardstick of the remote reads.
- The data: per repetition a new file of {args.size} random bytes written into h2's export
  directory, read on h1 as `/pj/bench/read-N.dat` (Picojump), through an sshfs mount of h2's export, and through an
  NFSv4 mount of it; and on h2 as its own `/pj/bench/read-N.dat` (local, FUSE passthrough), the
  baseline of the warm-read target. Every read is `dd bs=1M` of the whole file, timed by dd.
- Cold: the client freshly started (h1's picojumpd killed and started again by
  `pjctl devcluster stop/start h1`, then warmed up by reading another 256 MiB file once, so
  that the .NET JIT is not what gets measured; sshfs and NFS unmounted and mounted anew) and
  `sync; echo 3 > /proc/sys/vm/drop_caches`. The hosts share one kernel, so this also drops
  h2's page cache: a cold read includes h2 reading the file from its disk. The file is new in
  every repetition, so no block cache kept on disk can hold it.
- Warm, page cache dropped: the second read, caches dropped again: what the client keeps
  itself (Picojump's block cache on h1); sshfs and NFS keep no data of their own, so theirs
  fetch everything from h2 again. Warm, page cache kept: the third read, right after.
- sshfs: an sshd started for the run inside h2 on its bridge address (its own config, host
  key and client key in a temporary directory; `internal-sftp`, no PAM), and `sshfs` with its
  defaults on h1 (default ciphers, no compression, its 20 s attribute and directory caches).
- NFS: the kernel server started inside h2's network namespace (nfsd file system mounted in
  a private mount namespace, NFSv4 only, no rpcbind, `exportfs` with a `/var/lib/nfs` of the
  run), mounted on h1 with `mount -t nfs4 -o vers=4.2,proto=tcp` and default attribute caching.
- Latency: `bench/lib/latency.c` on h1, per repetition a new directory of {2 * args.files} empty
  files on h2: `stat()` of {args.files} of them, then `open(O_RDONLY)` + `close()` of the other
  {args.files}, each name touched once. No client has seen those names, so every call asks h2
  (Picojump: FUSE LOOKUP on h1, then h2 over gRPC; sshfs: an SFTP LSTAT or OPEN + CLOSE; NFS:
  LOOKUP/GETATTR, OPEN + CLOSE) whatever the attribute caching; open/close includes the name
  lookup, as a program's first open does. h2's own inode cache is warmed first (`ls -l` of
  the directory on h2), so h2's disk is not part of it. p50/p99 are nearest-rank percentiles
  over the calls of all repetitions.
- Each repetition runs raw TCP, h2's local read, then every system, the system order rotating
  between repetitions. A measurement that fails (a system that does not work yet, or cannot
  run on this kernel) is reported with its reason; the others go on.""")
    args.out.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
