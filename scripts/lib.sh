# Shared shell helpers for the setup and lab scripts. Sourced, not run.
# shellcheck shell=bash

# Where setup keeps daemon pid/log files and build stamps. Outside the checkout so that a fresh
# clone finds the engine it started earlier, and inside /var/lib so that it survives the session.
# A user who cannot write there (make lint/units/sanity need no root) gets a directory of their own.
default_state_dir() {
    local system=/var/lib/pptv-dcos
    if [ "$(id -u)" = 0 ] || [ -w "$system" ]; then
        echo "$system"
    else
        echo "${XDG_STATE_HOME:-${HOME:-/tmp}/.local/state}/pptv-dcos"
    fi
}
# shellcheck disable=SC2034  # read by the scripts that source this file
STATE_DIR=${PPTV_STATE_DIR:-$(default_state_dir)}

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs "$@" and kills it after $1 seconds of the rest; plain `timeout` with a readable failure.
wait_until() {
    local seconds=$1; shift
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}
