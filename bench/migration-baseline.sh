#!/usr/bin/env bash
# Eager migration against the plain baseline, in one run, on a dev cluster that is up
# (PICOJUMP_DEVCLUSTER_ROOT, PICOJUMP_DAEMON as for pjctl). For each size (MiB):
#   plain: a python3 job holding SIZE MiB of random bytes, started as pjctl starts jobs
#          (unshare --pid --fork setsid) on h1; `criu dump` there; the images copied to h2
#          over the dev cluster link (tar over one TCP connection); `criu restore` on h2.
#   eager: the same program started with `pjctl run` on h1, moved with `pjctl migrate h2`;
#   back:  then moved back to h1 (3 s later), whose page store holds all its pages.
# Usage: bench/migration-baseline.sh PJCTL_DLL [SIZES...]   (default sizes: 256 512)
set -euo pipefail
PJCTL=${1:?usage: $0 PJCTL_DLL [SIZES...]}
shift
SIZES=("$@")
[ $# -eq 0 ] && SIZES=(256 512)
CRIU=${CRIU:-/usr/local/sbin/criu}
ROOT=${PICOJUMP_DEVCLUSTER_ROOT:?set PICOJUMP_DEVCLUSTER_ROOT}
pj() { dotnet "$PJCTL" "$@"; }
ex() { local h=$1; shift; pj devcluster exec "$h" -- "$@"; }
H2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["address"])' "$ROOT/h2/etc/cluster.json")
E1=$ROOT/h1/export
WORK=$(mktemp -d /tmp/pj-baseline.XXXXXX)
mkdir -p "$E1/baseline"
cat > "$E1/baseline/hold.py" <<'EOF'
import os, sys, time
state = bytearray(os.urandom(int(sys.argv[1]) << 20))
print("built", flush=True)
while True:
    time.sleep(0.1)
EOF
cat > "$WORK/recv.py" <<'EOF'
import socket, subprocess, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1)
open(sys.argv[3], "w").close()
c, _ = s.accept()
tar = subprocess.Popen(["tar", "x", "-C", sys.argv[2]], stdin=subprocess.PIPE)
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    tar.stdin.write(b)
tar.stdin.close(); sys.exit(tar.wait())
EOF
cat > "$WORK/send.py" <<'EOF'
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
while True:
    b = sys.stdin.buffer.read1(1 << 20)
    if not b:
        break
    c.sendall(b)
c.close()
EOF
now() { date +%s.%N; }
waitfor() { for _ in $(seq 600); do grep -q built "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "no 'built' in $1" >&2; return 1; }

# Warm-up: daemons live long; their first migrations pay for JIT compilation (and .NET's
# tiered compilation optimizes hot code only after a while).
id=$(ex h1 sh -c "cd /pj/baseline && dotnet '$PJCTL' run -- python3 hold.py 64")
waitfor "$E1/.picojump/jobs/$id/stdout"
for to in h2 h1 h2 h1; do pj --host h1 migrate "$id" $to >/dev/null; sleep 1; done
pj --host h1 kill "$id" >/dev/null

printf '%-6s %-6s %8s %8s %8s %8s %8s\n' MiB how dump_s copy_s restore_s freeze_s total_s
for size in "${SIZES[@]}"; do
  # plain baseline
  rm -rf "$WORK/src" "$WORK/dst"; mkdir -p "$WORK/src" "$WORK/dst"
  out=$E1/baseline/out-$size; rm -f "$out" "$WORK/ready"
  # Only stdio, opened here (in h1's mount namespace): CRIU cannot dump a descriptor of another namespace.
  ex h1 bash -c 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
    cd /pj/baseline && (unshare --pid --fork setsid sh -c "exec python3 hold.py '$size' >out-'$size' 2>&1" </dev/null >/dev/null 2>&1 &)'
  waitfor "$out"
  # The namespace init is unshare's child (setsid and sh exec'd python3 there; unshare's own complaints go to /dev/null, not to the job's file, whose size CRIU checks).
  pid=$(pgrep -P "$(pgrep -n -f -x "unshare --pid --fork setsid sh -c exec python3 hold.py $size >out-$size 2>&1")")
  ex h2 python3 "$WORK/recv.py" 7999 "$WORK/dst" "$WORK/ready" & recv=$!
  while [ ! -e "$WORK/ready" ]; do sleep 0.05; done
  # Each side starts with no dirty pages left by the other (a dump behind a writeback crawls).
  sync
  t0=$(now)
  ex h1 "$CRIU" dump -t "$pid" -D "$WORK/src" -o dump.log >/dev/null 2>&1 || { tail -3 "$WORK/src/dump.log" >&2; kill $recv; exit 1; }
  t1=$(now)
  ex h1 sh -c "tar c -C '$WORK/src' . | python3 '$WORK/send.py' $H2 7999"
  wait $recv
  t2=$(now)
  ex h2 "$CRIU" restore -D "$WORK/dst" -d --pidfile "$WORK/dst/pid" -o restore.log >/dev/null 2>&1 || { grep Error "$WORK/dst/restore.log" >&2; exit 1; }
  t3=$(now)
  kill -9 "$(cat "$WORK/dst/pid")" 2>/dev/null || true
  awk -v s="$size" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" \
    'BEGIN { printf "%-6s %-6s %8.2f %8.2f %8.2f %8.2f %8.2f\n", s, "plain", b-a, c-b, d-c, d-a, d-a }'

  # Picojump eager
  id=$(ex h1 sh -c "cd /pj/baseline && dotnet '$PJCTL' run -- python3 hold.py $size")
  waitfor "$E1/.picojump/jobs/$id/stdout"
  sync
  reply=$(pj --host h1 migrate "$id" h2 --json)
  python3 - "$size" "$reply" <<'EOF'
import json, sys
r = json.loads(sys.argv[2])
print("%-6s %-6s %8s %8s %8s %8.2f %8.2f" % (sys.argv[1], "eager", "", "", "", int(r["freezeMicros"]) / 1e6, int(r["totalMicros"]) / 1e6))
EOF
  # And back: h1's store holds every page (the job changed none), so only the rebuild from the store is left.
  sleep 3; sync
  reply=$(pj --host h1 migrate "$id" h1 --json)
  python3 - "$size" "$reply" <<'EOF'
import json, sys
r = json.loads(sys.argv[2])
print("%-6s %-6s %8s %8s %8s %8.2f %8.2f" % (sys.argv[1], "back", "", "", "", int(r["freezeMicros"]) / 1e6, int(r["totalMicros"]) / 1e6))
EOF
  pj --host h1 kill "$id" >/dev/null
done
rm -rf "$WORK"
