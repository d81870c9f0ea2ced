#!/usr/bin/env python3
"""bench/migration's results: reads the raw files of one run and writes the markdown report.

Raw files, KEY = ROW.MIB with ROW in plain, lazy, eager, hybrid, eager-return, hybrid-return:
  KEY.txt      "key value" lines: start, end (epoch seconds), downtime, total, resident, dump,
               copy, restore, wall (seconds), wire_h1, wire_h2 (bytes each host's eth0 sent),
               tool_bytes, image_bytes
  KEY.json     pjctl migrate --json (eager, hybrid and their returns)
  KEY.stdout   the job's stdout: ready/tick/stall/dirtied lines (bench/lib/migration_job.py)
  KEY.err      that row failed; one line saying why

  migration_report.py --raw DIR --out FILE --sizes 64,512 --idle-bps N --info K=V ...
"""
import argparse
import json
import re
from pathlib import Path

ROWS = [
    ("plain", "(a) plain CRIU: dump, copy all, restore"),
    ("lazy", "(b) CRIU post-copy (lazy-pages)"),
    ("eager", "(c) Picojump eager"),
    ("hybrid", "(d) Picojump hybrid"),
    ("eager-return", "(e) return trip, eager"),
    ("hybrid-return", "(e) return trip, hybrid"),
]
MIB = 1 << 20
NOTES = []


def note(text):
    if text not in NOTES:
        NOTES.append(text)
    return NOTES.index(text) + 1


class Row:
    """One row at one size: its figures, or why it failed."""

    def __init__(self, raw, row, mib):
        key = f"{row}.{mib}"
        self.row, self.mib = row, mib
        self.values, self.reply, self.error, self.stalls = {}, None, None, []
        txt, js, err, out = (raw / f"{key}.{ext}" for ext in ("txt", "json", "err", "stdout"))
        if err.exists():
            self.error = err.read_text().strip() or "failed (no reason recorded)"
        elif not txt.exists():
            self.error = "no result (the run stopped?)"
        if txt.exists():
            for line in txt.read_text().splitlines():
                k, _, v = line.partition(" ")
                if v.strip():
                    self.values[k] = float(v)
        if js.exists():
            self.reply = json.loads(js.read_text())
        if out.exists():
            for line in out.read_text().splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] == "stall":
                    self.stalls.append((float(parts[1]), float(parts[2])))
        if self.reply:
            r = self.reply
            self.values["downtime"] = int(r["freezeMicros"]) / 1e6
            self.values["total"] = int(r["totalMicros"]) / 1e6
            # Eager: every page is in place when the job resumes, but the migration ends later
            # (the source's store filled, its dump gone); hybrid: the source is released once
            # every page is resident. Either way the total bounds the time to all-resident,
            # unless the reply names it.
            resident = next((v for k, v in r.items() if "resident" in k.lower() and k.lower().endswith("micros")), None)
            self.values["resident"] = int(resident) / 1e6 if resident is not None else int(r["totalMicros"]) / 1e6
            self.values["tool_bytes"] = int(r["bytes"])
            self.values["image_bytes"] = int(r["imageBytes"])

    @property
    def ok(self):
        return self.error is None

    def get(self, k):
        return self.values.get(k)

    def tick_downtime(self):
        """The longest stall of the job's loop that began during the move (its own view of the downtime)."""
        start, end = self.get("start"), self.get("end")
        if start is None or end is None:
            return None
        inside = [b - a for a, b in self.stalls if start - 0.1 <= a <= end]
        return max(inside) if inside else None

    def wire(self):
        a, b = self.get("wire_h1"), self.get("wire_h2")
        return None if a is None or b is None else a + b


class DaemonLogs:
    """What the picojumpd of each host logged (daemon-HOST.log in the raw directory): per-step times."""

    def __init__(self, raw):
        self.text = {h: (raw / f"daemon-{h}.log").read_text(errors="replace") if (raw / f"daemon-{h}.log").exists() else ""
                     for h in ("h1", "h2")}

    def eager_steps(self, reply):
        """The source's step times (ms) of an eager move, found through its job and destination."""
        log = self.text.get(reply["fromHost"], "")
        moved = re.findall(rf"Migration (\w+): job {re.escape(reply['jobId'])} moved to {re.escape(reply['toHost'])};", log)
        for mid in reversed(moved):
            m = re.search(rf"Migration {mid}: dumped in (\d+) ms, hashed in (\d+) ms, offered in (\d+) ms, "
                          rf"sent (\d+) pages in (\d+) ms, \S+ rebuilt in (\d+) ms and restored in (\d+) ms", log)
            if m:
                return dict(zip(("dump", "hash", "offer", "pages", "send", "rebuild", "restore"), map(int, m.groups())))
        return None

    def page_server(self, reply):
        """The destination page server's times (seconds) of a hybrid move: in its page source, awaiting CRIU's next request."""
        log = self.text.get(reply["toHost"], "")
        found = re.findall(rf"every page of job {re.escape(reply['jobId'])} resident .*?InSource = ([\d:.]+), AwaitingClient = ([\d:.]+)", log)
        if not found:
            return None

        def span(v):
            h, m, sec = v.split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
        return tuple(span(v) for v in found[-1])


def secs(v):
    return "" if v is None else f"{v:.2f} s" if v >= 1 else f"{v * 1000:.0f} ms"


def plain_get(data, m, key):
    r = data["plain", m]
    return r.get(key) if r.ok else None


def mib(v):
    return "" if v is None else f"{v / MIB:,.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--sizes", required=True)
    ap.add_argument("--idle-bps", type=int, default=0)
    ap.add_argument("--info", action="append", default=[])
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    data = {(row, m): Row(args.raw, row, m) for row, _ in ROWS for m in sizes}

    out = []
    w = out.append
    w("# bench/migration: moving a running job between two hosts")
    w("")
    w("A python3 job holding N MiB of resident, dirtied memory (every page distinct) moves from h1")
    w("to h2 of a 2-host dev cluster with plain CRIU, CRIU's own post-copy, and Picojump (eager,")
    w("hybrid), and back again after rewriting 10% of its memory at h2.")
    w("Written by `bench/migration`; re-run it rather than edit this file.")
    w("")
    for item in args.info:
        key, _, value = item.partition("=")
        w(f"- **{key}**: {value}")
    w(f"- **Idle traffic** between the hosts (heartbeats), included in every wire figure: {args.idle_bps:,} bytes/s")
    w("")

    for m in sizes:
        plain = data["plain", m]
        w(f"## {m} MiB")
        w("")
        w("| Row | Downtime (tool) | Downtime (job's own view) | All pages resident | Total | Wire MiB | of the image | Tool's MiB | Total vs plain |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row, label in ROWS:
            r = data[row, m]
            if not r.ok:
                stood = r.tick_downtime()
                n = note(f"{label}, {m} MiB: {r.error}" + (f" (the job stood still for {secs(stood)} meanwhile)" if stood else ""))
                w(f"| {label} | failed [{n}] | | | | | | | |")
                continue
            image = r.get("image_bytes") or plain.get("image_bytes")
            wire = r.wire()
            share = f"{wire / image * 100:.0f}%" if wire is not None and image else ""
            if share and not r.get("image_bytes"):
                share += " of (a)'s"
            vs = f"{r.get('total') / plain.get('total'):.2f}x" if plain.ok and plain.get("total") and not row.endswith("return") else ""
            w(f"| {label} | {secs(r.get('downtime'))} | {secs(r.tick_downtime())} | {secs(r.get('resident'))} | {secs(r.get('total'))} "
              f"| {mib(wire)} | {share} | {mib(r.get('tool_bytes'))} | {vs} |")
        w("")
        details = []
        for row, label in ROWS:
            r = data[row, m]
            if not r.ok:
                continue
            if row in ("plain", "lazy"):
                what = "restore (lazy)" if row == "lazy" else "restore"
                details.append(f"{label}: dump {secs(r.get('dump'))}, copy {secs(r.get('copy'))}, {what} {secs(r.get('restore'))}"
                               + (f"; image {mib(r.get('image_bytes'))} MiB" if r.get("image_bytes") else "")
                               + (f"; pages served from h1 until {secs(r.get('resident'))}" if row == "lazy" else ""))
            elif r.reply:
                x = r.reply
                details.append(f"{label}: {int(x['pagesTotal']):,} pages in the dump ({int(x['imageBytes']) / MIB:,.1f} MiB), "
                               f"{int(x['pagesSent']):,} sent, {int(x['pagesFound']):,} found at {x['toHost']}; "
                               f"pjctl's wall time {secs(r.get('wall'))}")
        for d in details:
            w(f"- {d}")
        if details:
            w("")

    # --- targets ---------------------------------------------------------------------------
    def down(r):
        """Downtime compared across tools: the job's own view when there is one, else the tool's."""
        t = r.tick_downtime()
        return (t, "job's view") if t is not None else (r.get("downtime"), "tool's figure")

    def why(label, r):
        stood = r.tick_downtime()
        extra = f" (the job stood still for {secs(stood)} meanwhile)" if stood else ""
        return f"{label} failed [{note(f'{dict(ROWS)[r.row]}, {r.mib} MiB: {r.error}{extra}')}]"

    rows = []
    for m in sizes:
        plain, lazy, eager, hybrid = (data[x, m] for x in ("plain", "lazy", "eager", "hybrid"))
        er, hr = data["eager-return", m], data["hybrid-return", m]
        # hybrid downtime <= lazy's
        goal = "<= (b)'s"
        if not hybrid.ok:
            rows.append((f"Hybrid downtime, {m} MiB", goal, "", "n/a", why("hybrid", hybrid)))
        elif not lazy.ok:
            rows.append((f"Hybrid downtime, {m} MiB", goal, "", "n/a", why("(b)", lazy)))
        else:
            (h, kind), (l, _) = down(hybrid), down(lazy)
            rows.append((f"Hybrid downtime, {m} MiB", goal, f"{secs(h)} vs {secs(l)} ({h / l:.2f}x)",
                         "PASS" if h <= l else "MISS", kind))
        # return trip: hybrid resident <= 0.3x lazy's
        goal = "<= 0.3x (b)'s all-resident time"
        if not hr.ok:
            rows.append((f"Return trip, hybrid, all resident, {m} MiB", goal, "", "n/a", why("hybrid return", hr)))
        elif not lazy.ok:
            rows.append((f"Return trip, hybrid, all resident, {m} MiB", goal, "", "n/a", why("(b)", lazy)))
        else:
            ratio = hr.get("resident") / lazy.get("resident")
            rows.append((f"Return trip, hybrid, all resident, {m} MiB", goal,
                         f"{secs(hr.get('resident'))} vs {secs(lazy.get('resident'))} ({ratio:.2f}x)", "PASS" if ratio <= 0.3 else "MISS", ""))
        # return trip: hybrid bytes <= 15% of the image
        goal = "<= 15% of the image"
        if not hr.ok:
            rows.append((f"Return trip, hybrid, bytes, {m} MiB", goal, "", "n/a", why("hybrid return", hr)))
        else:
            share = hr.wire() / hr.get("image_bytes")
            rows.append((f"Return trip, hybrid, bytes, {m} MiB", goal, f"{share * 100:.1f}%", "PASS" if share <= 0.15 else "MISS",
                         f"pjctl counts {hr.get('tool_bytes') / hr.get('image_bytes') * 100:.1f}%"))
        # eager total <= plain's
        goal = "<= (a)'s total"
        if not eager.ok:
            rows.append((f"Eager total time, {m} MiB", goal, "", "n/a", why("eager", eager)))
        elif not plain.ok:
            rows.append((f"Eager total time, {m} MiB", goal, "", "n/a", why("(a)", plain)))
        else:
            ratio = eager.get("total") / plain.get("total")
            rows.append((f"Eager total time, {m} MiB", goal, f"{secs(eager.get('total'))} vs {secs(plain.get('total'))} ({ratio:.2f}x)",
                         "PASS" if ratio <= 1 else "MISS", ""))
        # not a target, shown beside them: what eager's return trip carries and takes
        if er.ok:
            share = er.wire() / er.get("image_bytes")
            extra = f"; all resident {secs(er.get('resident'))} = {er.get('resident') / lazy.get('resident'):.2f}x (b)'s" if lazy.ok else ""
            rows.append((f"(Eager return trip, {m} MiB: not a target)", "", f"{share * 100:.1f}% of the image on the wire{extra}", "", ""))

    # --- where Picojump's time goes, from the daemons' logs ---------------------------------
    logs = DaemonLogs(args.raw)
    where = []
    for m in sizes:
        eager, hr, lazy = data["eager", m], data["hybrid-return", m], data["lazy", m]
        if eager.ok and eager.reply and (st := logs.eager_steps(eager.reply)):
            rate = st["pages"] * 4096 / MIB / (st["send"] / 1000) if st["send"] else 0
            where.append(f"Eager, {m} MiB: dump {st['dump']} ms, hash {st['hash']} ms, offer {st['offer']} ms, "
                         f"send {st['send']} ms ({rate:,.0f} MiB/s), rebuild {st['rebuild']} ms, restore {st['restore']} ms, one after another "
                         f"(plain CRIU: dump {secs(plain_get(data, m, 'dump'))}, copy {secs(plain_get(data, m, 'copy'))}, "
                         f"restore {secs(plain_get(data, m, 'restore'))})")
        if hr.ok and hr.reply and (ps := logs.page_server(hr.reply)):
            source, awaiting = ps
            bound = f": that wait alone is {awaiting / lazy.get('resident'):.2f}x (b)'s all-resident time (the target is 0.3x)" if lazy.ok else ""
            where.append(f"Return trip, hybrid, {m} MiB: every page resident after {secs(hr.get('resident'))}; the page server on "
                         f"{hr.reply['toHost']} spent {secs(source)} getting pages (its store, read ahead, and the changed pages "
                         f"from {hr.reply['fromHost']}) and {secs(awaiting)} awaiting CRIU's lazy-pages daemon, which asks for its next "
                         f"range only once it has copied the last into the job{bound}")
    if where:
        w("## Where Picojump's time goes (the daemons' logs)")
        w("")
        for d in where:
            w(f"- {d}")
        w("")

    w("## Targets")
    w("")
    w("| Target | Goal | Measured | Result | Note |")
    w("| --- | --- | --- | --- | --- |")
    for r in rows:
        w("| " + " | ".join(r) + " |")
    w("")
    if NOTES:
        w("## Failed measurements")
        w("")
        for i, text in enumerate(NOTES, 1):
            w(f"{i}. {text}")
        w("")
    w("## Method")
    w("")
    w("""- `pjctl devcluster up --hosts 2`: h1 and h2 are network + mount namespaces on one machine,
  joined by a bridge (veth pairs): every byte between them crosses that link, through the same
  kernel. Image directories live on the machine's disk (the work directory above), as
  Picojump's dumps do (in its `stateDir`).
- The job: `bench/lib/migration_job.py N SEED TRIGGER`, started on h1 with `pjctl run` (its own
  PID namespace and session, stdio files under `/pj`) for every row. It fills a bytearray of N
  MiB from `random.Random(SEED)` (a seed per job: no page repeats within or across jobs), then
  runs a 10 ms loop that prints a tick every 100 ms and a `stall T0 T1` line whenever two turns
  of the loop are more than 50 ms apart. When TRIGGER appears it rewrites the first 10% of its
  memory with new bytes. A row starts once the job has filled its memory and ticked 5 times.
- Before the first row a 16 MiB job moves h1 -> h2 (eager) and back (hybrid), not measured:
  a node's picojumpd runs for days, and only its first move after a start pays for the code's
  first runs, the bulk connections' set-up and the stores' first use. The idle traffic is
  measured after it.
- Every row starts once the last move's background work is done (its pages going into both
  hosts' page stores, after its total time): no migration work directory is left on either host.
- (a) plain: `criu dump -t <init pid> -D dir -v4` in h1's namespaces; the directory (no logs)
  as `tar | tcpcopy.py send` from h1 to `tcpcopy.py recv | tar -x` on h2's address (a TCP copy
  across the bridge, like `tar | nc`); `criu restore -D dir -d -v4` in h2's namespaces.
  Downtime = total = all resident = dump start to the restore's return.
- (b) lazy: `criu dump --lazy-pages --address h1 --port P --status-fd` on h1 (ready once
  the images are written and the page server listens); the images (no pages) copied as in
  (a); on h2 `criu lazy-pages --page-server --address h1 --port P` (waited for through its
  status fd), then `criu restore --lazy-pages -d`. Downtime (tool) = dump start to the
  restore's return; all resident = total = dump start to the exit of `criu lazy-pages`, which
  fetches the remaining pages in the background once the job runs (the dump on h1 exits then
  too).
- (c), (d): `pjctl --host h1 migrate JOB h2 [--mode hybrid] --json`; downtime is its
  `freezeMicros` (dump start to the job running again), total its `totalMicros` (up to the
  source's page store filled and its dump deleted), tool bytes its `bytes` (hash lists,
  image files and pages). All resident: for eager every page is in place when the job
  resumes, so its freeze is the lower bound and its total (shown) the upper one; hybrid's is
  its total (the source copy is released once every page is resident) unless the reply names
  the time.
- (e): after (c)/(d) the job rewrites 10% of its memory at h2 (`touch /pj/bench-migration/KEY.dirty`
  on h2; the job answers `dirtied`), then `pjctl --host h2 migrate JOB h1` in the same mode.
  Its share is the wire bytes over the pages image of that dump (`imageBytes`). The job also
  dirties a little memory of its own between the moves (the interpreter's heap), which
  travels too.
- Downtime, job's own view: the longest `stall` of the job's loop that began during the move
  (from 0.1 s before its start to its end): the time the job did not run, to 10 ms, as the job
  sees it, measured the same way for every row. The targets compare this figure when both
  sides have it (else the tools' own). On this shared machine a busy CPU also stalls the
  loop; a stall of a few tens of ms can be starvation.
- Wire MiB: the bytes both hosts sent on their eth0 (transmit counters of `/proc/net/dev` in
  each host's network namespace, before and after the move): payload, TCP/IP headers, TLS
  (Picojump's peer port), acknowledgements in both directions, and the idle heartbeats above.
  The same count for every row; "Tool's MiB" is what the tool itself says it sent (for (a) and
  (b) the tar stream of the image copy; CRIU's page server reports no byte count).
- Rows run one after another, one job at a time, in the order (a) to (d) per size, smallest
  size first; one run, no repetitions: treat differences of a few tens of percent on a
  loaded machine as noise.""")
    args.out.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
