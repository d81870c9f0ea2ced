/*
 * latency DIR OP FIRST COUNT RAWFILE: the per-call latency test of bench/cluster.
 *
 * OP is "stat" (stat() of each file) or "openclose" (open O_RDONLY then close of each
 * file). The files are DIR/f<FIRST> .. DIR/f<FIRST+COUNT-1> (printf "f%07ld"), each one
 * touched exactly once, so that no cache of the client answers from an earlier call on
 * the same name: every call is the first access to that name through this mount (a
 * LOOKUP for a FUSE file system, a LOOKUP/GETATTR for NFS, an LSTAT for sshfs).
 *
 * Writes every call's latency in nanoseconds to RAWFILE (one a line, in call order) and
 * prints one JSON object:
 *   {"op": OP, "calls": N, "p50_us": .., "p90_us": .., "p99_us": .., "mean_us": .., "max_us": ..}
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

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile of sorted samples. */
static double pct(const long long *sorted, long n, double p)
{
    long rank = (long)(p / 100.0 * n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1] / 1000.0;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: latency DIR stat|openclose FIRST COUNT RAWFILE\n");
        return 2;
    }
    const char *op = argv[2];
    int do_stat = strcmp(op, "stat") == 0;
    if (!do_stat && strcmp(op, "openclose") != 0) {
        fprintf(stderr, "latency: OP must be stat or openclose, not %s\n", op);
        return 2;
    }
    long first = atol(argv[3]), count = atol(argv[4]);
    if (first < 0 || count < 1) {
        fprintf(stderr, "latency: FIRST must be >= 0 and COUNT >= 1\n");
        return 2;
    }
    FILE *raw = fopen(argv[5], "w");
    if (!raw) {
        fprintf(stderr, "latency: cannot write %s: %s\n", argv[5], strerror(errno));
        return 1;
    }
    if (chdir(argv[1]) != 0) {
        fprintf(stderr, "latency: cannot enter %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    long long *lat = malloc(count * sizeof *lat);
    if (!lat)
        return 1;
    char name[32];
    struct stat st;
    for (long i = 0; i < count; i++) {
        snprintf(name, sizeof name, "f%07ld", first + i);
        long long t0 = now_ns();
        if (do_stat) {
            if (stat(name, &st) != 0) {
                fprintf(stderr, "latency: stat %s/%s: %s\n", argv[1], name, strerror(errno));
                return 1;
            }
        } else {
            int fd = open(name, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || close(fd) != 0) {
                fprintf(stderr, "latency: open/close %s/%s: %s\n", argv[1], name, strerror(errno));
                return 1;
            }
        }
        lat[i] = now_ns() - t0;
    }
    double sum = 0;
    for (long i = 0; i < count; i++) {
        fprintf(raw, "%lld\n", lat[i]);
        sum += lat[i];
    }
    if (fclose(raw) != 0) {
        fprintf(stderr, "latency: writing %s: %s\n", argv[5], strerror(errno));
        return 1;
    }
    qsort(lat, count, sizeof *lat, cmp);
    printf("{\"op\": \"%s\", \"calls\": %ld, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
           "\"mean_us\": %.1f, \"max_us\": %.1f}\n",
           op, count, pct(lat, count, 50), pct(lat, count, 90), pct(lat, count, 99),
           sum / count / 1000.0, lat[count - 1] / 1000.0);
    return 0;
}
