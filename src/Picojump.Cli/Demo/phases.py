#!/usr/bin/env python3
"""The demo's job: an ordinary program that knows nothing of Picojump.

It works through datasets in phases: every file of each dataset directory, read start to
end PASSES times, with a CRC-32 of each pass. After each file it drops the file's pages from
its host's page cache (posix_fadvise DONTNEED), as a program streaming more data than memory
would see: every pass reads through the file system again instead of from the kernel's cache.

usage: phases.py PASSES NAME=DIR [NAME=DIR ...]
prints: "phase NAME pass P/N file F/M" as it goes, "phase NAME crc HEX seconds S" after each
phase, "done seconds S" at the end.
"""
import os
import sys
import time
import zlib

CHUNK = 1 << 20


def read_file(path, crc):
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            n = os.readv(fd, [buffer])
            if n == 0:
                break
            crc = zlib.crc32(view[:n], crc)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return crc


def main():
    passes = int(sys.argv[1])
    started = time.time()
    for spec in sys.argv[2:]:
        name, directory = spec.split("=", 1)
        files = sorted(os.path.join(directory, f) for f in os.listdir(directory))
        phase_started = time.time()
        crc = 0
        for p in range(1, passes + 1):
            for i, path in enumerate(files, 1):
                print(f"phase {name} pass {p}/{passes} file {i}/{len(files)}", flush=True)
                crc = read_file(path, crc)
        print(f"phase {name} crc {crc:08x} seconds {time.time() - phase_started:.2f}", flush=True)
    print(f"done seconds {time.time() - started:.2f}", flush=True)


main()
