#!/usr/bin/env bash
# Proves that `make lint` and `make units` need no root setup: as an unprivileged user (default
# nobody), in a throwaway clone of this checkout's HEAD, with no access to the Docker socket, it
# runs `make venv`, `make lint` and `make units UNITS_ARGS=...`, and checks that `make setup`
# refuses with its message. Run it as root (it switches user with su); it takes a few minutes,
# most of them building the clone's .venv.
#   bash scripts/check-no-root.sh [USER] [UNITS_ARGS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

user=${1:-nobody}
units=${2:-tests/unit/plugins/module_utils/test_validate.py}
[ "$(id -u)" = 0 ] || die "run this as root: it switches to $user with su"
id "$user" >/dev/null 2>&1 || die "no user $user"
work=$(mktemp -d /tmp/pptv-noroot-XXXXXX)
trap 'rm -rf "$work"' EXIT
unset PPTV_STATE_DIR  # the user's state directory is its own default (lib.sh), not /var/lib
git clone -q "$root" "$work/repo"
mkdir -p "$work/home"
# pip's configuration (mirrors, find-links) is the only thing the user needs from root's
# (/etc/pip.conf applies to every user already).
mkdir -p "$work/home/.config/pip"
if [ -r "$HOME/.config/pip/pip.conf" ]; then cp "$HOME/.config/pip/pip.conf" "$work/home/.config/pip/"; fi
chown -R "$user" "$work"

as_user() { su "$user" -s /bin/bash -c "cd '$work/repo' && export HOME='$work/home' && $*"; }

log "as $user: the Docker socket is out of reach"
if as_user "docker version >/dev/null 2>&1"; then die "$user can reach the Docker engine: this check proves nothing"; fi
log "as $user: make venv, make lint, make units"
as_user "make venv && make lint && make units UNITS_ARGS='$units'" \
    || { tail -20 "$work/home/.local/state/pptv-dcos/pip.log" 2>/dev/null; die "make venv/lint/units failed for $user"; }
log "as $user: make setup must refuse"
out=$(as_user "make setup" 2>&1) && die "make setup succeeded for $user"
grep -q "run it as root" <<<"$out" || die "make setup failed for $user without saying why: $out"
log "lint and units pass without root; setup asks for root"
