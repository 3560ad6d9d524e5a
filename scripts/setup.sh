#!/usr/bin/env bash
# make setup: everything the lab, the demo and the tests need on a Debian 12 host.
# Idempotent, and quick when already done: each step checks before it acts.
#   1. host packages (only the missing ones are installed)
#   2. the Docker engine, started when not running
#   3. .venv with the pinned requirements (rebuilt when a requirements file changes)
#   4. the base and systemd images (scripts/images.sh, cached)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

# Debian packages the tests run for real. Add a package here when a test starts to need it.
HOST_PACKAGES=(
    docker.io debootstrap rsync iproute2 curl git make
    glusterfs-server glusterfs-client attr   # gluster_volume tests, logs volume
    bind9 bind9-utils bind9-dnsutils         # dns_record tests, environment DNS
    nginx-light                              # nginx_upstream tests, the gateway
    zookeeperd                               # ip_pool's ZooKeeper backend
)

check_host() {
    [ "$(id -u)" = 0 ] || die "make setup installs Debian packages and runs dockerd: run it as root (sudo make setup)."
    [ -r /etc/os-release ] || die "cannot read /etc/os-release: this needs Debian 12 (bookworm)."
    # shellcheck disable=SC1091
    . /etc/os-release
    case " ${ID:-} ${ID_LIKE:-} " in
        *" debian "*) ;;
        *) die "this host is ${PRETTY_NAME:-unknown}: make setup needs Debian 12 or a Debian-like system with apt-get." ;;
    esac
    command -v apt-get >/dev/null || die "apt-get is missing: install the packages by hand: ${HOST_PACKAGES[*]}"
}

install_packages() {
    local missing=() pkg
    for pkg in "${HOST_PACKAGES[@]}"; do
        dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Package post-install scripts must not leave services running that we did not ask for:
    # policy-rc.d 101 stops invoke-rc.d from starting them (tests start their own instances).
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get update -qq || die "apt-get update failed: check the Debian mirror in /etc/apt/sources.list"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$STATE_DIR/apt.log" 2>&1 \
        || die "apt-get install ${missing[*]} failed; see $STATE_DIR/apt.log"
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
}

docker_running() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_docker() {
    docker_running && return 0
    if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
        log "starting docker (systemd)"
        systemctl start docker
    else
        # No systemd as PID 1: run dockerd ourselves, pid and log under the state directory.
        log "starting dockerd in the background (log: $STATE_DIR/dockerd.log)"
        rm -f /var/run/docker.pid
        nohup dockerd >"$STATE_DIR/dockerd.log" 2>&1 &
        echo $! >"$STATE_DIR/dockerd.pid"
    fi
    wait_until 60 docker_running || die "the Docker engine did not start; see $STATE_DIR/dockerd.log"
}

make_venv() {
    local stamp="$root/.venv/.requirements.sha256" want
    want=$(cat "$root/requirements.txt" "$root/requirements-dev.txt" | sha256sum | cut -d' ' -f1)
    if [ -x "$root/.venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    command -v python3 >/dev/null || die "python3 is missing: apt-get install python3 python3-venv"
    log "creating .venv with the pinned requirements (about a minute)"
    python3 -m venv "$root/.venv" || die "python3 -m venv failed: apt-get install python3-venv"
    "$root/.venv/bin/pip" install -q --disable-pip-version-check -r "$root/requirements-dev.txt" \
        >"$STATE_DIR/pip.log" 2>&1 || die "pip install failed; see $STATE_DIR/pip.log"
    echo "$want" >"$stamp"
}

mkdir -p "$STATE_DIR"
check_host
install_packages
start_docker
make_venv
"$here/images.sh"
log "setup is complete"
