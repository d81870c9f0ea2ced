#!/usr/bin/env python3
"""bench/fs's results: reads the raw files of one run and writes the markdown report.

Raw files are named TEST.TARGET.REP.json: fio's JSON output, or for the metadata test
metaops' {"files", "create", "stat", "unlink"} (seconds per phase).

  fs_report.py --summary FILE                 one line for the progress output
  fs_report.py --raw DIR --out FILE --size S --runtime S --reps N --files N --info K=V ...
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

TARGETS = ["native", "pj", "pj-nopt", "bindfs"]
TARGET_NAMES = {"native": "native", "pj": "pj", "pj-nopt": "pj (no passthrough)", "bindfs": "bindfs"}

# (row key = fio job name, label, unit)
FIO_ROWS = [
    ("seqread-warm", "Sequential 1 MiB read, warm", "MiB/s"),
    ("seqread-cold", "Sequential 1 MiB read, cold", "MiB/s"),
    ("randread-warm", "Random 4 KiB read, warm", "IOPS"),
    ("randread-cold", "Random 4 KiB read, cold", "IOPS"),
    ("seqwrite", "Sequential 1 MiB write", "MiB/s"),
    ("randwrite", "Random 4 KiB write", "IOPS"),
]
META_ROWS = [
    ("meta-create", "Metadata: create", "ops/s"),
    ("meta-stat", "Metadata: stat", "ops/s"),
    ("meta-unlink", "Metadata: unlink", "ops/s"),
    ("meta-all", "Metadata: create + stat + unlink", "ops/s"),
]

# (label, row key, goal, compared with)
GOALS = [
    ("Sequential read, warm", "seqread-warm", 0.9, "native"),
    ("Sequential read, cold", "seqread-cold", 0.9, "native"),
    ("Random 4 KiB read, warm", "randread-warm", 0.7, "native"),
    ("Random 4 KiB read, cold", "randread-cold", 0.7, "native"),
    ("Sequential write", "seqwrite", 0.8, "native"),
    ("Metadata (create + stat + unlink)", "meta-all", 1.5, "bindfs"),
]


def figures(path):
    """The figures one raw file holds: {row key: value}."""
    data = json.loads(Path(path).read_text())
    if "jobs" not in data:
        n = data["files"]
        total = data["create"] + data["stat"] + data["unlink"]
        return {
            "meta-create": n / data["create"],
            "meta-stat": n / data["stat"],
            "meta-unlink": n / data["unlink"],
            "meta-all": 3 * n / total,
        }
    job = data["jobs"][0]
    test = job["jobname"]
    side = job["write"] if "write" in test else job["read"]
    if job["error"]:
        sys.exit(f"fs_report: {path}: fio reported error {job['error']}")
    unit = dict((key, unit) for key, _, unit in FIO_ROWS)[test]
    return {test: side["bw_bytes"] / 2**20 if unit == "MiB/s" else side["iops"]}


def summary(path):
    parts = []
    for key, value in figures(path).items():
        unit = dict((k, u) for k, _, u in FIO_ROWS + META_ROWS)[key]
        parts.append(f"{key.removeprefix('meta-')} {value:,.0f} {unit}")
    return ", ".join(parts)


def load(raw, reps):
    """{row key: {target: [value per repetition]}}"""
    values = {}
    for rep in range(1, reps + 1):
        for target in TARGETS:
            for path in sorted(raw.glob(f"*.{target}.{rep}.json")):
                for key, value in figures(path).items():
                    values.setdefault(key, {}).setdefault(target, []).append(value)
    return values


def fmt(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def report(args):
    raw = Path(args.raw)
    values = load(raw, args.reps)
    median = {key: {t: statistics.median(v) for t, v in row.items()} for key, row in values.items()}
    out = []
    add = out.append

    add("# bench/fs: file system benchmark")
    add("")
    add("Native disk vs Picojump's `/pj` (picojumpd, FUSE passthrough on and off) vs bindfs (libfuse),")
    add("all over the same export directory. Written by `bench/fs`; re-run it rather than edit this file.")
    add("")
    for item in args.info:
        key, _, value = item.partition("=")
        add(f"- **{key}**: {value}")
    add("")

    add(f"## Results (median of {args.reps} repetition{'s' if args.reps > 1 else ''}; ratio to native)")
    add("")
    add("| Test | Unit | " + " | ".join(TARGET_NAMES[t] for t in TARGETS) + " |")
    add("| --- | --- |" + " ---: |" * len(TARGETS))
    for key, label, unit in FIO_ROWS + META_ROWS:
        if key not in median:
            continue
        row = median[key]
        cells = []
        for t in TARGETS:
            if t not in row:
                cells.append("-")
            elif t == "native":
                cells.append(fmt(row[t]))
            else:
                cells.append(f"{fmt(row[t])} ({row[t] / row['native']:.2f}x)")
        add(f"| {label} | {unit} | " + " | ".join(cells) + " |")
    add("")
    if "meta-all" in median:
        m = median["meta-all"]
        add(f"Metadata against bindfs: pj {m['pj'] / m['bindfs']:.2f}x, "
            f"pj (no passthrough) {m['pj-nopt'] / m['bindfs']:.2f}x.")
        add("")

    add("## Targets (pj, passthrough on)")
    add("")
    add("| Target | Goal | Measured | Result | Note |")
    add("| --- | --- | ---: | --- | --- |")
    for label, key, goal, base in GOALS:
        if key not in median:
            continue
        ratio = median[key]["pj"] / median[key][base]
        paired = [p / b for p, b in zip(values[key]["pj"], values[key][base])]
        passed = ratio >= goal
        notes = []
        if len(paired) > 1 and min(paired) < goal <= max(paired):
            notes.append(f"repetitions {min(paired):.2f}x-{max(paired):.2f}x: noise decides")
        elif not passed and len(paired) > 1:
            notes.append(f"every repetition below the goal ({min(paired):.2f}x-{max(paired):.2f}x)")
        if not passed:
            notes.append(f"pj (no passthrough) {median[key]['pj-nopt'] / median[key][base]:.2f}x"
                         + ("" if base == "bindfs" else f", bindfs {median[key]['bindfs'] / median[key][base]:.2f}x"))
        note = "; ".join(notes)
        add(f"| {label} | >= {goal}x {base} | {ratio:.2f}x | {'PASS' if passed else 'MISS'} | {note} |")
    add("")

    if args.reps > 1:
        add("## Spread between repetitions (slowest to fastest, as a ratio to the median)")
        add("")
        add("| Test | " + " | ".join(TARGET_NAMES[t] for t in TARGETS) + " |")
        add("| --- |" + " ---: |" * len(TARGETS))
        for key, label, _ in FIO_ROWS + META_ROWS:
            if key in values:
                cells = [f"{min(v) / median[key][t]:.2f}-{max(v) / median[key][t]:.2f}"
                         for t in TARGETS for v in [values[key][t]]]
                add(f"| {label} | " + " | ".join(cells) + " |")
        add("")

    add("## Method")
    add("")
    add(f"""- One export directory on the local disk, served three ways at once: picojumpd with its
  defaults (passthrough on, 1 s name/attribute cache) and picojumpd `--no-passthrough`, both
  with an empty config file, and `bindfs -f` with its defaults (libfuse 2, single-threaded,
  1 s caches, no big_writes: its writes arrive 4 KiB at a time). `native` is the directory
  itself.
- fio, buffered as programs do it: `--ioengine=psync --direct=0 --numjobs=1`, and
  `--invalidate=0` (fio would otherwise drop the file's page cache itself before each
  run, which a FUSE mount does not pass on to the backing file). Test files of
  {args.size}, laid out once through the native path.
- Warm reads: the file is read once through the target, then fio runs {args.runtime} s
  (`--time_based`). The page cache is shared: native and passthrough read the backing
  file's cache directly; without passthrough the daemon (or bindfs) reads it and the
  FUSE file keeps its own copy while the file stays open.
- Cold reads: `sync; echo 3 > /proc/sys/vm/drop_caches`, then a fixed amount, not a
  time: the whole file sequentially, or size/16 in random 4 KiB reads (so few repeats).
- Writes: overwrite a laid-out file for {args.runtime} s, no fsync: the cost of the write
  path into the page cache, which is where a FUSE layer adds its cost; write-back to the
  disk is the same work for every target.
- Metadata: `bench/lib/metaops.c` (C, so no interpreter cost) creates {args.files} empty
  files in a new directory (open O_CREAT|O_EXCL + close), stats each, unlinks each,
  pausing 2 s before the stat and unlink phases: the FUSE name and attribute caches (1 s
  for both FUSE servers) have expired, as for files a program did not touch just
  before, so each stat costs a LOOKUP; the native dentry cache stays warm. The export
  has ext4's TOPDIR flag, so each run's directory lands in a fresh block group: without
  a journal ext4 skips inodes freed in the last 30 s, and one run's unlinks would
  otherwise slow the next run's creates by up to ten times.
- Each repetition runs every test on every target back to back (a `sync` before each),
  the target order rotating between repetitions; figures are medians and ratios are
  ratios of medians. Targets apply to `pj`; the `pj (no passthrough)` column shows what
  passthrough buys.""")
    add("")
    Path(args.out).write_text("\n".join(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary", metavar="FILE")
    parser.add_argument("--raw")
    parser.add_argument("--out")
    parser.add_argument("--size")
    parser.add_argument("--runtime", type=int)
    parser.add_argument("--reps", type=int)
    parser.add_argument("--files", type=int)
    parser.add_argument("--info", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if args.summary:
        print(summary(args.summary))
    elif all(v is not None for v in (args.raw, args.out, args.size, args.runtime, args.reps, args.files)):
        report(args)
    else:
        parser.error("give --summary FILE, or --raw, --out, --size, --runtime, --reps and --files")


if __name__ == "__main__":
    main()
