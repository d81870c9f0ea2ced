#!/usr/bin/env bash
# Runs the whole Picojump test suite.
#
#   ./test.sh                    # everything
#   ./test.sh --filter Name~Fuse # extra arguments go to `dotnet test`
#
# First runs ./install.sh (idempotent and quick when everything is in place) so that
# criu, fio, bindfs, sqlite3, picojumpd, ... are present and current, then
# `dotnet test Picojump.sln -c Release`.  The last line printed is the verdict:
#
#   N passed, N failed[, N skipped]
#
# The exit status is non-zero if a test failed, the run aborted or no test ran.

set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$REPO"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if ! ./install.sh; then
    echo "test.sh: ./install.sh failed; no test was run" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

mkdir -p "$REPO/TestResults"
RESULTS=$(mktemp -d "$REPO/TestResults/run.XXXXXX")
echo "==> dotnet test Picojump.sln -c Release $* (results in $RESULTS)"

# One TRX file per test project (LogFilePrefix keeps several projects from overwriting
# each other's results); the verdict sums their counters.
dotnet test Picojump.sln -c Release \
    --logger "trx;LogFilePrefix=results" \
    --logger "console;verbosity=normal" \
    --results-directory "$RESULTS" \
    --blame-hang-timeout 10m --blame-hang-dump-type none \
    "$@"
rc=$?

passed=0 failed=0 skipped=0 executed=0 ntrx=0 aborted_runs=0
shopt -s nullglob
for trx in "$RESULTS"/*.trx; do
    counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
    [[ -n $counters ]] || continue
    ntrx=$((ntrx + 1))
    get() { local v; v=$(sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"); echo "${v:-0}"; }
    total=$(get total); exe=$(get executed)
    passed=$((passed + $(get passed)))
    failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
    executed=$((executed + exe))
    skipped=$((skipped + total - exe))
    # A test host that crashed or was killed by the hang guard leaves the test it was
    # running out of the counters; count each such aborted run as one failure.
    if grep -q 'test run was aborted' "$trx"; then
        aborted_runs=$((aborted_runs + 1))
        echo "test.sh: a test run was aborted (test host crash or hang, see $trx); counting it as 1 failure" >&2
    fi
done
failed=$((failed + aborted_runs))

# CI keeps only the tail of the output: repeat each failed test with the start of its
# message just above the verdict.
if ((failed > 0)); then
    python3 - "$RESULTS"/*.trx <<'PY' >&2 || true
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for path in sys.argv[1:]:
    for r in ET.parse(path).getroot().iterfind(".//t:UnitTestResult", ns):
        if r.get("outcome") not in ("Failed", "Error", "Timeout", "Aborted"):
            continue
        msg = r.findtext(".//t:Message", default="", namespaces=ns).strip().splitlines()
        print("FAILED", r.get("testName"))
        for line in msg[:6]:
            print("    " + line[:300])
PY
fi

status=0
if ((failed > 0)); then
    status=1
elif ((rc != 0)); then
    # Build error, test host crash or a hang killed by --blame-hang-timeout: the failure
    # may not be in any TRX counter, but the run did not succeed.
    echo "test.sh: dotnet test exited with status $rc although no failed test was recorded" \
         "(build error, crash or hang); counting it as 1 failure" >&2
    failed=1 status=1
elif ((executed == 0)); then
    echo "test.sh: no test ran ($ntrx TRX file(s) in $RESULTS)" >&2
    status=1
fi

if ((skipped > 0)); then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
exit $status
