#!/usr/bin/env bash
# Make Docker usable for Podium's images and `podium run --backend docker`, idempotently:
#   - installs docker.io and mmdebstrap (Debian), and runsc (gVisor) from bookworm-backports;
#   - registers runsc in /etc/docker/daemon.json with runtimeArgs
#     ["--network=host", "--host-uds=all"];
#   - starts dockerd in the background when none is running, and waits until it answers;
#   - builds a local base image (local/debian:bookworm) with mmdebstrap when the public
#     Python image cannot be pulled.
# Usage: scripts/setup-docker.sh [--no-gvisor] [--no-base]     set things up
#        scripts/setup-docker.sh --stop                        stop the dockerd this script started
# Needs root (apt, dockerd). Safe to run again: each step checks before it acts.
set -euo pipefail

STATE_DIR=/run/podium-docker           # what this script started (so --stop stops only that)
DOCKERD_LOG=/var/log/podium-dockerd.log
DAEMON_JSON=/etc/docker/daemon.json
LOCAL_BASE=${PODIUM_LOCAL_BASE:-local/debian:bookworm}
PUBLIC_BASE=${PODIUM_PUBLIC_BASE:-python:3.11-slim}
DOCKER=/usr/bin/docker                 # Debian's client: it has BuildKit built in
WANT_GVISOR=1
WANT_BASE=1

log() { printf '[setup-docker] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

stop_dockerd() {
    local pidfile=$STATE_DIR/dockerd.pid
    if [[ ! -f $pidfile ]]; then
        log "no dockerd started by this script; nothing to stop"
        return 0
    fi
    local pid
    pid=$(<"$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        log "stopping dockerd (pid $pid)"
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { log "dockerd did not stop in 10 s; killing"; kill -KILL "$pid"; }
    fi
    if [[ -f $STATE_DIR/containerd.pid ]]; then
        pid=$(<"$STATE_DIR/containerd.pid")
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" || true
    fi
    rm -f "$pidfile" "$STATE_DIR/containerd.pid"
    log "stopped"
}

for arg in "$@"; do
    case $arg in
        --stop) stop_dockerd; exit 0 ;;
        --no-gvisor) WANT_GVISOR=0 ;;
        --no-base) WANT_BASE=0 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg (see --help)" ;;
    esac
done

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts dockerd)"

export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
apt_update() { [[ $APT_UPDATED -eq 1 ]] || { apt-get update -qq; APT_UPDATED=1; }; }

# ------------------------------------------------------------------ packages
missing=()
command -v dockerd >/dev/null && [[ -x $DOCKER ]] || missing+=(docker.io)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt_update
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# gVisor: Debian bookworm's own runsc (2022) fails on recent kernels; the backports build works.
runsc_ok() {
    command -v runsc >/dev/null || return 1
    local version
    version=$(dpkg-query -W -f='${Version}' runsc 2>/dev/null || echo none)
    [[ $version != 0.0~2022* ]]
}
if [[ $WANT_GVISOR -eq 1 ]] && ! runsc_ok; then
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        log "adding the bookworm-backports apt source"
        cat >/etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        APT_UPDATED=0
    fi
    log "installing runsc from bookworm-backports"
    apt_update
    apt-get install -y -qq --no-install-recommends -t bookworm-backports runsc >/dev/null \
        || log "warning: runsc could not be installed; gVisor runs will not work"
fi

# ------------------------------------------------------------------ daemon.json
# Register runsc (merged into any existing daemon.json).
#   --network=host   the sandbox uses the container's own network namespace (gVisor's netstack
#                    fails on this kernel); the container is still isolated by Docker's netns.
#   --host-uds=all   each Docker container is its own gVisor sandbox, unlike a Pod's containers:
#                    skills' gRPC Unix sockets on the shared /workspace volume must be real host
#                    sockets for the agent's sandbox to connect to them.
config_changed=0
if [[ $WANT_GVISOR -eq 1 ]] && command -v runsc >/dev/null; then
    mkdir -p "$(dirname "$DAEMON_JSON")"
    if python3 - "$DAEMON_JSON" "$(command -v runsc)" <<'PY'
import json, sys
from pathlib import Path
path, runsc = Path(sys.argv[1]), sys.argv[2]
config = json.loads(path.read_text()) if path.exists() and path.read_text().strip() else {}
want = {"path": runsc, "runtimeArgs": ["--network=host", "--host-uds=all"]}
if config.get("runtimes", {}).get("runsc") == want:
    sys.exit(1)  # unchanged
config.setdefault("runtimes", {})["runsc"] = want
path.write_text(json.dumps(config, indent=2) + "\n")
PY
    then
        log "registered runsc in $DAEMON_JSON"
        config_changed=1
    fi
fi

# ------------------------------------------------------------------ dockerd
docker_ready() { "$DOCKER" info >/dev/null 2>&1; }

if docker_ready; then
    if [[ $config_changed -eq 1 ]]; then
        log "reloading dockerd's configuration (SIGHUP)"
        dockerd_pid=$(cat /var/run/docker.pid 2>/dev/null || true)
        [[ -n $dockerd_pid ]] && kill -HUP "$dockerd_pid"
        for _ in $(seq 1 50); do
            "$DOCKER" info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"' && break
            sleep 0.1
        done
    fi
else
    log "starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$STATE_DIR"
    # A stale pid file from a killed daemon makes dockerd refuse to start.
    if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    echo $! >"$STATE_DIR/dockerd.pid"
    for _ in $(seq 1 300); do
        docker_ready && break
        kill -0 "$(<"$STATE_DIR/dockerd.pid")" 2>/dev/null \
            || { tail -n 20 "$DOCKERD_LOG" >&2; die "dockerd exited; see $DOCKERD_LOG"; }
        sleep 0.1
    done
    docker_ready || { tail -n 20 "$DOCKERD_LOG" >&2; die "dockerd did not answer in 30 s"; }
    log "dockerd is ready"
fi

if [[ $WANT_GVISOR -eq 1 ]] && command -v runsc >/dev/null; then
    "$DOCKER" info --format '{{json .Runtimes}}' | grep -q '"runsc"' \
        || log "warning: dockerd does not list the runsc runtime; restart dockerd"
fi

# ------------------------------------------------------------------ base image
if [[ $WANT_BASE -eq 1 ]]; then
    if "$DOCKER" image inspect "$PUBLIC_BASE" >/dev/null 2>&1; then
        log "public base $PUBLIC_BASE is present"
    elif "$DOCKER" image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
        log "local base $LOCAL_BASE is present"
    elif timeout 60 "$DOCKER" pull -q "$PUBLIC_BASE" >/dev/null 2>&1; then
        log "pulled $PUBLIC_BASE"
    else
        log "cannot pull $PUBLIC_BASE; building $LOCAL_BASE with mmdebstrap (about 30 s)"
        mkdir -p "$STATE_DIR"
        # minbase + python3-venv gives Python 3.11 (bookworm) with pip's ensurepip wheels.
        # The merged-usr hook avoids the usrmerge package (and the 45 MB of perl it pulls in).
        mmdebstrap --quiet --variant=minbase --mode=root --include=python3-venv,ca-certificates \
            --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
            --aptopt='Acquire::Languages "none"' \
            --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            bookworm - 2>"$STATE_DIR/mmdebstrap.log" \
            | "$DOCKER" import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$LOCAL_BASE" >/dev/null \
            || { tail -n 30 "$STATE_DIR/mmdebstrap.log" >&2; die "building $LOCAL_BASE failed"; }
        log "built $LOCAL_BASE"
    fi
fi
log "done"
