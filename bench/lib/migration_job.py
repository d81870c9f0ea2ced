#!/usr/bin/env python3
"""bench/migration's job: holds MIB MiB of resident, dirtied memory and reports on stdout.

  migration_job.py MIB SEED TRIGGER

Fills a bytearray of MIB MiB with pseudo-random bytes (random.Random(SEED), so every page
differs from every other page and from other jobs' pages: no store can find them by
content), then loops every 10 ms and prints (flushed, one line each, wall-clock seconds):

  ready T MIB                       the memory is filled (every page written)
  tick N T                          every 100 ms, N counting from 0
  stall T0 T1                       the loop did not run from T0 to T1 (more than 50 ms
                                    between two turns): the job was frozen (or starved)
  dirtied T0 T1 BYTES               TRIGGER appeared: the first 10% of the memory was
                                    rewritten with new pseudo-random bytes between T0 and T1
                                    (the file is then removed; a new one dirties again)

The stall lines give the job's own view of its downtime around a migration, to 10 ms.
"""
import os
import random
import sys
import time

MIB = 1 << 20
CHUNK = 64 << 10   # small: the generator's temporaries are freed, not kept on the heap


def fill(buf, start, end, rng):
    for offset in range(start, end, CHUNK):
        n = min(CHUNK, end - offset)
        buf[offset:offset + n] = rng.randbytes(n)


def main():
    mib, seed, trigger = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    size = mib * MIB
    buf = bytearray(size)
    fill(buf, 0, size, random.Random(seed))
    out = sys.stdout
    out.write(f"ready {time.time():.6f} {mib}\n")
    out.flush()
    tick, dirty_round = 0, 0
    next_tick = time.monotonic()
    last = time.time()
    while True:
        now_mono, now = time.monotonic(), time.time()
        if now - last > 0.05:
            out.write(f"stall {last:.6f} {now:.6f}\n")
            out.flush()
        last = now
        if now_mono >= next_tick:
            out.write(f"tick {tick} {now:.6f}\n")
            out.flush()
            tick += 1
            next_tick += 0.1
            if next_tick < now_mono:
                next_tick = now_mono + 0.1
            if os.path.exists(trigger):
                dirty_round += 1
                t0 = time.time()
                end = size // 10 // 4096 * 4096
                fill(buf, 0, end, random.Random(f"{seed}/dirty/{dirty_round}"))
                t1 = time.time()
                os.unlink(trigger)
                out.write(f"dirtied {t0:.6f} {t1:.6f} {end}\n")
                out.flush()
                last = time.time()
        time.sleep(0.01)


if __name__ == "__main__":
    main()
