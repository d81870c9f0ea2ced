#!/usr/bin/env bash
# Makes a CRIU >= 4.1 that passes `criu check` available as /usr/local/sbin/criu.
#
#  * If the distribution's criu is already >= 4.1, the wrapper simply execs it
#    (installing the package first when it is available but not installed).
#  * Otherwise (Debian 12 ships 3.17, which fails `criu check` on kernels >= 6.13 with
#    "vdso: Unexpected rt vDSO area bounds"), the criu package of the next Debian
#    release (trixie, CRIU 4.1.x) and every shared library it needs are downloaded with a
#    private apt state (the system's apt sources and lists are not touched), unpacked
#    with `dpkg -x` into a private prefix, and run through that prefix's own dynamic
#    loader, so the host's libc is left alone.  See /work/shared/design/FINDINGS.md.
#
# It also raises fs.pipe-max-size to 8 MiB, now and persistently: without
# CAP_SYS_RESOURCE, CRIU's page server fails with "page-pipe: splice: Bad file
# descriptor" unless it is raised.
#
# Idempotent: when everything is in place it only verifies (about a second).
#
# Environment:
#   PICOJUMP_PREFIX       base prefix (default /opt/picojump); CRIU goes to $PREFIX/criu
#   PICOJUMP_CRIU_PREFIX  overrides the CRIU prefix
#   PICOJUMP_CRIU_SUITE   Debian suite to take CRIU from (default trixie)
#   PICOJUMP_DEBIAN_URI   Debian archive URI (default: read from the configured apt sources)

set -euo pipefail

PREFIX_BASE=${PICOJUMP_PREFIX:-/opt/picojump}
CRIU_PREFIX=${PICOJUMP_CRIU_PREFIX:-$PREFIX_BASE/criu}
SUITE=${PICOJUMP_CRIU_SUITE:-trixie}
WRAPPER=/usr/local/sbin/criu
MIN_VERSION=4.1
PIPE_MAX=8388608
SYSCTL_CONF=/etc/sysctl.d/60-picojump.conf
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
WRAPPER_MARK='# picojump-criu-wrapper'

export DEBIAN_FRONTEND=noninteractive LC_ALL=C

say()  { printf '  -> %s\n' "$*"; }
warn() { printf '  !! WARNING: %s\n' "$*" >&2; }
die()  { printf '\nERROR (install-criu): %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must be run as root"

case "$(dpkg --print-architecture)" in
    amd64) TRIPLET=x86_64-linux-gnu;  LOADER=ld-linux-x86-64.so.2 ;;
    arm64) TRIPLET=aarch64-linux-gnu; LOADER=ld-linux-aarch64.so.1 ;;
    *) die "unsupported architecture $(dpkg --print-architecture) (amd64 and arm64 are handled)" ;;
esac

# --- helpers --------------------------------------------------------------------------

# Prints the version of the criu binary given as $1 (e.g. 4.1.1), or nothing.
criu_version() {
    "$1" --version 2>/dev/null | awk '/^Version:/ {print $2; exit}' || true
}

version_ok() { [[ -n "$1" ]] && dpkg --compare-versions "$1" ge "$MIN_VERSION"; }

# Runs `criu check` with the given criu command; succeeds when it says "Looks good".
criu_check_ok() {
    local out
    out=$("$@" check 2>&1) || true
    grep -q 'Looks good' <<<"$out"
}

ensure_pipe_max_size() {
    local want="fs.pipe-max-size = $PIPE_MAX"
    if [[ ! -f $SYSCTL_CONF ]] || ! grep -qxF "$want" "$SYSCTL_CONF"; then
        mkdir -p "$(dirname "$SYSCTL_CONF")"
        cat >"$SYSCTL_CONF" <<EOF
# Installed by Picojump (scripts/install-criu.sh).
# CRIU's page server splices page pipes of up to this size; without CAP_SYS_RESOURCE
# the default 1 MiB limit makes it fail with "page-pipe: splice: Bad file descriptor".
$want
EOF
        say "wrote $SYSCTL_CONF"
    fi
    local cur
    cur=$(cat /proc/sys/fs/pipe-max-size)
    if (( cur < PIPE_MAX )); then
        if ! { echo "$PIPE_MAX" >/proc/sys/fs/pipe-max-size; } 2>/dev/null; then
            die "cannot set fs.pipe-max-size to $PIPE_MAX (is /proc/sys read-only here?); CRIU's page server needs it"
        fi
        say "fs.pipe-max-size: $cur -> $(cat /proc/sys/fs/pipe-max-size)"
    fi
}

write_wrapper() {   # $1 = description line, rest = the exec line
    local desc=$1 execline=$2 tmp
    mkdir -p "$(dirname "$WRAPPER")"
    tmp=$(mktemp "$WRAPPER.XXXXXX")
    cat >"$tmp" <<EOF
#!/bin/sh
$WRAPPER_MARK (installed by Picojump scripts/install-criu.sh)
# $desc
$execline
EOF
    chmod 0755 "$tmp"
    mv -f "$tmp" "$WRAPPER"
    say "wrote $WRAPPER"
}

final_verify() {
    local v out
    v=$(criu_version "$WRAPPER")
    version_ok "$v" || die "$WRAPPER reports version '${v:-none}', need >= $MIN_VERSION"
    out=$("$WRAPPER" check 2>&1) || true
    if ! grep -q 'Looks good' <<<"$out"; then
        printf '%s\n' "$out" >&2
        die "'criu check' did not say \"Looks good\" (criu $v via $WRAPPER); CRIU cannot checkpoint on this machine"
    fi
    say "criu $v at $WRAPPER: criu check says \"Looks good.\""
}

# --- fast path: already installed and working -----------------------------------------

ensure_pipe_max_size

if [[ -x $WRAPPER ]] && version_ok "$(criu_version "$WRAPPER")" && criu_check_ok "$WRAPPER"; then
    final_verify
    exit 0
fi

# --- distro criu, if new enough ---------------------------------------------------------

distro_criu_ok() {
    [[ -x /usr/sbin/criu ]] && version_ok "$(criu_version /usr/sbin/criu)" && criu_check_ok /usr/sbin/criu
}

if ! distro_criu_ok; then
    # Is a new-enough criu available from the configured (system) sources?
    cand=$(apt-cache policy criu 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [[ -z $cand || $cand == "(none)" ]] && [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null) ]]; then
        say "apt lists are empty; running apt-get update"
        apt-get update -qq >/dev/null
        cand=$(apt-cache policy criu 2>/dev/null | awk '/Candidate:/ {print $2}')
    fi
    if [[ -n $cand && $cand != "(none)" ]] && dpkg --compare-versions "$cand" ge "$MIN_VERSION"; then
        say "installing the distribution's criu $cand"
        apt-get install -y -qq --no-install-recommends criu >/dev/null
    else
        say "distribution criu is ${cand:-unavailable} (< $MIN_VERSION); using $SUITE's criu in $CRIU_PREFIX"
    fi
fi

if distro_criu_ok; then
    write_wrapper "uses the distribution's criu $(criu_version /usr/sbin/criu)" 'exec /usr/sbin/criu "$@"'
    final_verify
    exit 0
fi

# --- private prefix from $SUITE ----------------------------------------------------------

LIBDIR=$CRIU_PREFIX/usr/lib/$TRIPLET

# The Debian archive URI: the one the machine's apt is configured with for its own
# release (from /etc/apt/sources.list{,.d}), so no host name is hard-coded here.
find_debian_uri() {
    local codename uri
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    uri=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null \
          | awk -v c="$codename" '$2 == c {print $1; exit}')
    if [[ -z $uri ]]; then
        # Any configured plain-release (not -security/-updates) Debian source.
        uri=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null \
              | awk '$2 !~ /-/ && $1 !~ /security/ {print $1; exit}')
    fi
    printf '%s' "${uri%/}"
}

URI=${PICOJUMP_DEBIAN_URI:-$(find_debian_uri)}
[[ -n $URI ]] || die "could not find a configured Debian apt source (set PICOJUMP_DEBIAN_URI to a Debian archive URI)"
[[ -r $KEYRING ]] || die "$KEYRING is missing (install debian-archive-keyring)"

WORK=$(mktemp -d /var/tmp/picojump-criu.XXXXXX)
cleanup() { rm -rf "$WORK" "$CRIU_PREFIX.new"; }
trap cleanup EXIT

mkdir -p "$WORK/lists/partial" "$WORK/cache" "$WORK/debs"
# Signature: the trixie InRelease is signed by the trixie archive and release keys AND by
# the bookworm archive key ("Debian Archive Automatic Signing Key (12/bookworm)"), which
# every Debian 12 debian-archive-keyring has (newer ones also carry the trixie keys).
# apt accepts the file when one signature from the Signed-By keyring is good, so the
# normal keyring verifies it; no [trusted=yes] is needed, and the .debs are then checked
# against the hashes in the signed Packages index.
echo "deb [signed-by=$KEYRING] $URI $SUITE main" >"$WORK/sources.list"

APT_OPTS=(
    -o "Dir::State::Lists=$WORK/lists"
    -o "Dir::State::status=/dev/null"          # resolve as if nothing were installed
    -o "Dir::Etc::sourcelist=$WORK/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::Cache=$WORK/cache"
    -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
    -o "Acquire::Languages=none"
)
if id _apt >/dev/null 2>&1; then chown -R _apt "$WORK/lists/partial" "$WORK/debs"; fi

say "fetching the $SUITE package index from $URI (private apt state in $WORK)"
if ! upd=$(apt-get "${APT_OPTS[@]}" update 2>&1) || grep -qE '^(W|E): .*(NO_PUBKEY|not signed|EXPKEYSIG|invalid)' <<<"$upd"; then
    printf '%s\n' "$upd" >&2
    if grep -q NO_PUBKEY <<<"$upd"; then
        die "the $SUITE Release file could not be verified with $KEYRING; upgrade debian-archive-keyring from this machine's own sources (apt-get install --only-upgrade debian-archive-keyring) and re-run"
    fi
    die "apt-get update for $SUITE failed"
fi

# The package set: criu plus the recursive closure of its Depends/Pre-Depends.
mapfile -t PKGS < <(apt-cache "${APT_OPTS[@]}" depends --recurse --no-recommends --no-suggests \
                        --no-conflicts --no-breaks --no-replaces --no-enhances criu \
                    | grep -v '^ ' | grep -v '^<' | sort -u)
[[ ${#PKGS[@]} -gt 0 && " ${PKGS[*]} " == *" criu "* ]] || die "could not resolve criu's dependencies in $SUITE"
say "packages: ${PKGS[*]}"

(cd "$WORK/debs" && apt-get "${APT_OPTS[@]}" -q download "${PKGS[@]}" >/dev/null 2>"$WORK/download.err") \
    || { cat "$WORK/download.err" >&2; die "apt-get download failed"; }

rm -rf "$CRIU_PREFIX.new"
mkdir -p "$CRIU_PREFIX.new"
for deb in "$WORK"/debs/*.deb; do
    dpkg -x "$deb" "$CRIU_PREFIX.new"
    dpkg-deb -f "$deb" Package Version | paste -sd' ' | awk '{print $2"="$4}' >>"$WORK/manifest"
done
sort -o "$WORK/manifest" "$WORK/manifest"
{ echo "# Debian $SUITE packages unpacked here by Picojump scripts/install-criu.sh from $URI"; cat "$WORK/manifest"; } \
    >"$CRIU_PREFIX.new/PACKAGES"

# Verify the new prefix before switching to it.
NEWLIB=$CRIU_PREFIX.new/usr/lib/$TRIPLET
[[ -x $NEWLIB/$LOADER && -x $CRIU_PREFIX.new/usr/sbin/criu ]] || die "unpacked tree lacks $LOADER or usr/sbin/criu"
# Every shared library criu needs must come from the prefix (none from the host).
deps=$(LD_TRACE_LOADED_OBJECTS=1 "$NEWLIB/$LOADER" --library-path "$NEWLIB" "$CRIU_PREFIX.new/usr/sbin/criu" 2>&1) \
    || { printf '%s\n' "$deps" >&2; die "the private loader cannot load criu"; }
if grep -q 'not found' <<<"$deps" || grep '=>' <<<"$deps" | grep -vqF "$CRIU_PREFIX.new/"; then
    printf '%s\n' "$deps" >&2
    die "criu's libraries do not all resolve inside the prefix (see above)"
fi

rm -rf "$CRIU_PREFIX.old"
[[ -e $CRIU_PREFIX ]] && mv "$CRIU_PREFIX" "$CRIU_PREFIX.old"
mv "$CRIU_PREFIX.new" "$CRIU_PREFIX"
rm -rf "$CRIU_PREFIX.old"
say "unpacked ${#PKGS[@]} packages into $CRIU_PREFIX"

write_wrapper "CRIU $(awk -F= '$1=="criu" {print $2}' "$CRIU_PREFIX/PACKAGES") from Debian $SUITE, run with its own glibc through the prefix's loader" \
    "exec $LIBDIR/$LOADER --library-path $LIBDIR $CRIU_PREFIX/usr/sbin/criu \"\$@\""

final_verify
