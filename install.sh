#!/usr/bin/env bash
# Picojump installer: OS packages, CRIU >= 4.1, the picojumpd/pjctl binaries, the
# directories and the systemd unit.  Idempotent; a re-run with everything in place only
# verifies (a few seconds at most).
#
# Environment:
#   PICOJUMP_PREFIX   install prefix (default /opt/picojump); binaries go to $PREFIX/bin
#                     and CRIU (when the distribution's is too old) to $PREFIX/criu

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=${PICOJUMP_PREFIX:-/opt/picojump}
BIN=$PREFIX/bin
STAMP=$BIN/.picojump-build
UNIT_SRC=$REPO/deploy/picojumpd.service
UNIT_DST=/etc/systemd/system/picojumpd.service
EXPORT_DIR=/var/lib/picojump/export
MOUNTPOINT=/pj

# OS packages.  fuse3: fusermount3 and /etc/fuse.conf; gcc + libc6-dev: a struct-layout
# test compiles C; fio, bindfs, sqlite3: benchmarks and peers; iperf3, openssh-server +
# sshfs, nfs-kernel-server: bench/cluster's yardstick and peers (it runs its own sshd and
# nfsd inside the dev cluster; under systemd apt also enables their services as usual, the
# NFS server with no exports); debian-archive-keyring: verifies the Debian release that
# CRIU may be taken from (scripts/install-criu.sh); iproute2, util-linux (nsenter, unshare)
# and iputils-ping: the dev cluster and its tests.
PACKAGES=(fuse3 fio bindfs sqlite3 git python3 tar coreutils iproute2 procps util-linux
          iputils-ping ca-certificates gcc libc6-dev debian-archive-keyring
          iperf3 openssh-server sshfs nfs-kernel-server)

export DEBIAN_FRONTEND=noninteractive DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 \
       DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

step() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '    WARNING: %s\n' "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

T0=$(date +%s.%N)

# --- (a) root -----------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "install.sh must be run as root (try: sudo $0)"

# --- (b) OS packages and the .NET SDK ---------------------------------------------------------
step "Checking OS packages"
missing=()
for p in "${PACKAGES[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) == installed ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    step "Installing OS packages: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    info "installed ${missing[*]}"
else
    info "all present: ${PACKAGES[*]}"
fi

step "Checking the .NET 10 SDK"
command -v dotnet >/dev/null 2>&1 \
    || die "the .NET 10 SDK is not installed ('dotnet' not found); install the .NET 10 SDK and re-run"
DOTNET_VERSION=$(cd "$REPO" && dotnet --version 2>/dev/null || true)
[[ $DOTNET_VERSION == 10.* ]] \
    || die "the .NET 10 SDK is required (dotnet --version in $REPO says '${DOTNET_VERSION:-nothing}'); install the .NET 10 SDK and re-run"
info "dotnet SDK $DOTNET_VERSION"
# The published apphosts (picojumpd, pjctl) look for the runtime in the default location
# or in /etc/dotnet/install_location; record a non-default one so they also start under
# systemd, where DOTNET_ROOT is not set.
DOTNET_DIR=$(dirname "$(readlink -f "$(command -v dotnet)")")
if [[ $DOTNET_DIR != /usr/share/dotnet && $DOTNET_DIR != /usr/lib/dotnet && ! -e /etc/dotnet/install_location ]]; then
    mkdir -p /etc/dotnet && echo "$DOTNET_DIR" >/etc/dotnet/install_location
    info "wrote /etc/dotnet/install_location ($DOTNET_DIR)"
fi

# --- (c) CRIU -------------------------------------------------------------------------------
step "Installing CRIU (scripts/install-criu.sh)"
PICOJUMP_PREFIX=$PREFIX "$REPO/scripts/install-criu.sh"

# --- (d) build and publish ------------------------------------------------------------------
step "Building and publishing picojumpd and pjctl to $BIN"
# Up to date when the last publish came from this checkout and no build input changed
# since (directories are included, so deleted files count as changes too).
build_inputs_changed() {
    [[ -f $STAMP && -x $BIN/picojumpd && -x $BIN/pjctl ]] || return 0
    [[ $(sed -n 's/^repo=//p' "$STAMP") == "$REPO" ]] || return 0
    local newer
    newer=$(cd "$REPO" && find src protos Directory.Build.props Directory.Packages.props global.json \
                 ./*.sln ./NuGet.config ./nuget.config \
                 \( -name bin -o -name obj \) -prune -o -newer "$STAMP" -print -quit 2>/dev/null || true)
    [[ -n $newer ]]
}
# ReadyToRun (compiled ahead of time): a daemon's first remote reads and moves, and every pjctl
# command, skip most of the JIT (a first 512 MiB remote read: 10-20% less CPU on both hosts).
# The compiler is served for x86-64; elsewhere the portable build, JIT-compiled.
publish_options=()
[[ $(uname -m) == x86_64 ]] && publish_options=(-r linux-x64 --self-contained false -p:PublishReadyToRun=true)
if build_inputs_changed; then
    rm -rf "$BIN.new"
    mkdir -p "$PREFIX"
    for proj in src/Picojump.Host/Picojump.Host.csproj src/Picojump.Cli/Picojump.Cli.csproj; do
        info "dotnet publish $proj -c Release ${publish_options[*]}"
        (cd "$REPO" && dotnet publish "$proj" -c Release "${publish_options[@]}" -o "$BIN.new" --nologo -v quiet) \
            || { rm -rf "$BIN.new"; die "dotnet publish $proj failed (see the build output above)"; }
    done
    [[ -x $BIN.new/picojumpd && -x $BIN.new/pjctl ]] \
        || { rm -rf "$BIN.new"; die "publish did not produce $BIN.new/picojumpd and $BIN.new/pjctl"; }
    printf 'repo=%s\ncommit=%s\npublished=%s\n' "$REPO" \
        "$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)" "$(date -u +%FT%TZ)" >"$BIN.new/.picojump-build"
    rm -rf "$BIN.old"
    [[ -e $BIN ]] && mv "$BIN" "$BIN.old"
    mv "$BIN.new" "$BIN"
    rm -rf "$BIN.old"
    info "published to $BIN"
else
    info "up to date (no build input changed since the last publish from $REPO)"
fi
for exe in picojumpd pjctl; do
    if [[ $(readlink "/usr/local/bin/$exe" 2>/dev/null || true) != "$BIN/$exe" ]]; then
        ln -sfn "$BIN/$exe" "/usr/local/bin/$exe"
        info "linked /usr/local/bin/$exe -> $BIN/$exe"
    fi
done

# --- (e) directories ----------------------------------------------------------------------
step "Creating /etc/picojump, $EXPORT_DIR and $MOUNTPOINT"
install -d -m 0755 /etc/picojump /var/lib/picojump "$EXPORT_DIR"
# /pj may be a live (or stale) FUSE mount already; only create it when nothing is there.
if ! mountpoint -q "$MOUNTPOINT" 2>/dev/null && ! grep -qs " $MOUNTPOINT " /proc/self/mounts; then
    install -d -m 0755 "$MOUNTPOINT"
fi

# --- (f) systemd unit ---------------------------------------------------------------------
step "Installing the systemd unit $UNIT_DST"
[[ -f $UNIT_SRC ]] || die "$UNIT_SRC is missing"
if ! cmp -s "$UNIT_SRC" "$UNIT_DST"; then
    install -D -m 0644 "$UNIT_SRC" "$UNIT_DST"
    info "installed $UNIT_DST"
else
    info "already installed"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
    if out=$(systemd-analyze verify "$UNIT_DST" 2>&1); then
        info "systemd-analyze verify: OK"
    else
        warn "systemd-analyze verify $UNIT_DST reported:"
        printf '%s\n' "$out" | sed 's/^/      /' >&2
    fi
else
    warn "systemd-analyze is not available; the unit file was not verified"
fi
if [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    info "systemd reloaded; enable and start with: systemctl enable --now picojumpd"
else
    info "systemd is not running as PID 1 here: the unit is installed but not started"
    info "(start the daemon by hand: picojumpd --export $EXPORT_DIR --mountpoint $MOUNTPOINT)"
fi

# --- (g) summary --------------------------------------------------------------------------
step "Summary"
info "criu:        $(command -v criu) ($(criu --version 2>/dev/null | awk '/^Version:/ {print $2}'))"
info "dotnet SDK:  $DOTNET_VERSION"
info "picojumpd:   /usr/local/bin/picojumpd -> $BIN/picojumpd"
info "pjctl:       /usr/local/bin/pjctl -> $BIN/pjctl"
info "build:       $(sed -n 's/^commit=//p' "$STAMP" 2>/dev/null) ($(sed -n 's/^published=//p' "$STAMP" 2>/dev/null))"
info "config:      /etc/picojump/"
info "export:      $EXPORT_DIR"
info "mountpoint:  $MOUNTPOINT"
info "unit:        $UNIT_DST"
info "sysctl:      fs.pipe-max-size=$(cat /proc/sys/fs/pipe-max-size) (/etc/sysctl.d/60-picojump.conf)"
info "tools:       fio $(fio --version 2>/dev/null | sed 's/^fio-//'), bindfs $(bindfs --version 2>/dev/null | awk '{print $2; exit}'), sqlite3 $(sqlite3 --version 2>/dev/null | awk '{print $1}')"
step "Done in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
