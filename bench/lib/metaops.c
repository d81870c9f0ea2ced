/*
 * metaops DIR COUNT PAUSE_MS: the metadata test of bench/fs.
 *
 * In DIR (which must exist and be empty), creates COUNT empty files (open O_CREAT|O_EXCL,
 * close), then stats each one, then unlinks each one, pausing PAUSE_MS between the
 * phases. Prints one JSON object with the seconds each phase took:
 *   {"files": COUNT, "create": S, "stat": S, "unlink": S}
 * C rather than a script so that the interpreter's own cost does not hide the file
 * system's. Exits non-zero with a message on the first failing call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(const char *what, long i)
{
    fprintf(stderr, "metaops: %s of file %ld failed: %s\n", what, i, strerror(errno));
    exit(1);
}

static void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: metaops DIR COUNT PAUSE_MS\n");
        return 2;
    }
    long count = atol(argv[2]), pause = atol(argv[3]);
    if (chdir(argv[1]) != 0) {
        fprintf(stderr, "metaops: cannot enter %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char name[32];
    struct stat st;
    double t0, create, stat_s, unlink_s;

    t0 = now();
    for (long i = 0; i < count; i++) {
        snprintf(name, sizeof name, "f%07ld", i);
        int fd = open(name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
            fail("create", i);
        if (close(fd) != 0)
            fail("close", i);
    }
    create = now() - t0;

    pause_ms(pause);
    t0 = now();
    for (long i = 0; i < count; i++) {
        snprintf(name, sizeof name, "f%07ld", i);
        if (stat(name, &st) != 0)
            fail("stat", i);
    }
    stat_s = now() - t0;

    pause_ms(pause);
    t0 = now();
    for (long i = 0; i < count; i++) {
        snprintf(name, sizeof name, "f%07ld", i);
        if (unlink(name) != 0)
            fail("unlink", i);
    }
    unlink_s = now() - t0;

    printf("{\"files\": %ld, \"create\": %.6f, \"stat\": %.6f, \"unlink\": %.6f}\n", count, create, stat_s, unlink_s);
    return 0;
}
