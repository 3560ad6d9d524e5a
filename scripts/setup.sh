#!/usr/bin/env bash
# make setup: everything the lab, the demo and the tests need on a Debian 12 host.
# Idempotent, and quick when already done: each step checks before it acts.
#   packages  host packages (only the missing ones are installed)        root
#   docker    the Docker engine, started when not running                root
#   venv      .venv with the pinned requirements (rebuilt when a         any user
#             requirements file changes)
#   images    the base and systemd images (scripts/images.sh, cached)    root
# Usage: setup.sh [STEP...]; no step means all four, in that order. `make venv` runs the venv
# step alone: it is all that `make lint`, `make units` and `make sanity` need.
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
    docker-registry                          # local image registry of the image-by-digest tests
    shellcheck                               # ansible-test sanity's shellcheck test (skipped without it)
)

ALL_STEPS=(packages docker venv images)

check_host() {
    [ "$(id -u)" = 0 ] || die "make setup installs Debian packages and runs dockerd: run it as root (sudo make setup). \
make lint, make units and make sanity need only .venv: make venv (no root)."
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
    local venv="$root/.venv" stamp="$root/.venv/.requirements.sha256" want
    want=$(cat "$root/requirements.txt" "$root/requirements-dev.txt" | sha256sum | cut -d' ' -f1)
    if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    command -v python3 >/dev/null \
        || die "python3 is missing: install python3 and python3-venv (as root: apt-get install python3 python3-venv)"
    # .venv may be a symlink to a shared one: what must be writable is where it points.
    local target writable
    target=$(readlink -f "$venv")
    if [ -e "$target" ]; then writable=$target; else writable=$(dirname "$target"); fi
    [ -w "$writable" ] \
        || die "$venv is missing or out of date, and $(id -un) cannot write $writable: run make venv as its owner."
    log "creating .venv with the pinned requirements (about a minute)"
    python3 -m venv "$venv" \
        || die "python3 -m venv failed: install python3-venv (as root: apt-get install python3-venv)"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/requirements-dev.txt" \
        >"$STATE_DIR/pip.log" 2>&1 || die "pip install failed; see $STATE_DIR/pip.log"
    echo "$want" >"$stamp"
}

run_step() {
    case $1 in
        packages) check_host && install_packages ;;
        docker) check_host && start_docker ;;
        venv) make_venv ;;
        images) check_host && "$here/images.sh" ;;
        *) die "unknown setup step '$1': the steps are ${ALL_STEPS[*]}" ;;
    esac
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=("${ALL_STEPS[@]}")
for step in "${steps[@]}"; do
    case " ${ALL_STEPS[*]} " in
        *" $step "*) ;;
        *) die "unknown setup step '$step': the steps are ${ALL_STEPS[*]}" ;;
    esac
done
mkdir -p "$STATE_DIR" || die "cannot create $STATE_DIR: set PPTV_STATE_DIR to a directory you can write"
for step in "${steps[@]}"; do
    run_step "$step"
done
if [ ${#steps[@]} -eq ${#ALL_STEPS[@]} ]; then log "setup is complete"; else log "setup: ${steps[*]} done"; fi
