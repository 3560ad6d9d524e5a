#!/usr/bin/env bash
# Runs the named stages (or `all`), keeps going after a failure, and ends with a summary table
# and a closing "stages: N passed, N failed" line. Exit status is non-zero when any stage failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
cd "$root" || exit 1
export PATH="$root/.venv/bin:$PATH" ANSIBLE_CONFIG="$root/ansible.cfg"
PY="$root/.venv/bin/python"
[ -x "$PY" ] || die ".venv is missing: run make venv (all that lint, units and sanity need; no root) \
or make setup (as root: packages, Docker and images too, for the other stages)."

ALL_STAGES=(ruff yamllint ansible-lint sanity units build integration e2e molecule)

# ansible-test only runs from a path ending in ansible_collections/pptv/dcos, outside any other
# git work tree. Copy the tracked (and new, unignored) files there and give the copy its own git
# index so that ansible-test sees exactly the files a commit would hold.
collection_tree() {
    # One copy per checkout, so that two work trees can test at once.
    local dest
    dest="$STATE_DIR/ansible-test/$(echo "$root" | sha1sum | cut -c1-8)/ansible_collections/pptv/dcos"
    rm -rf "$dest" && mkdir -p "$dest"
    git ls-files -z --cached --others --exclude-standard | grep -zv '^\.collections/' \
        | rsync -a --files-from=- --from0 ./ "$dest/"
    (cd "$dest" && git init -q && git add -A) >/dev/null
    echo "$dest"
}

stage_ruff() { ruff check . && ruff format --check --diff .; }
stage_yamllint() { yamllint -s .; }
stage_ansible-lint() { ansible-lint --profile production --offline; }
# ansible-test --venv downloads a pip bootstrap script from a host we cannot reach; put our
# offline stand-in where it looks first (its cache), named for the pip version it pins.
offline_pip_bootstrap() {
    local version
    version=$("$PY" -c 'import re, ansible_test._internal.python_requirements as r, inspect
print(re.search(r"pip=.([0-9.]+).", inspect.getsource(r)).group(1))')
    mkdir -p ~/.ansible/test/cache
    cp "$here/get_pip_offline.py" ~/.ansible/test/cache/"get_pip_${version//./_}.py"
}

# shellcheck disable=SC2086
stage_sanity() {
    offline_pip_bootstrap
    local tree; tree=$(collection_tree)
    (cd "$tree" && ansible-test sanity --venv --python 3.11 --color no $SANITY_ARGS)
}
# shellcheck disable=SC2086
stage_units() {
    offline_pip_bootstrap
    local tree; tree=$(collection_tree)
    [ -n "$(find tests/unit -name 'test_*.py' 2>/dev/null)" ] || { echo "no unit tests"; return 1; }
    (cd "$tree" && ansible-test units --venv --python 3.11 --color no $UNITS_ARGS)
}
stage_build() { bash "$here/check-build.sh"; }
pytest_suite() {
    local dir=$1
    [ -n "$(find "$dir" -name 'test_*.py' 2>/dev/null)" ] || { echo "no tests in $dir yet"; return 0; }
    # PYTEST_ARGS replaces the suite's folder: `make integration PYTEST_ARGS=tests/integration/test_x.py`.
    # shellcheck disable=SC2086
    "$PY" -m pytest ${PYTEST_ARGS:-$dir}
}
stage_integration() { pytest_suite tests/integration; }
stage_e2e() { pytest_suite tests/e2e; }
# Molecule: every roles/<role>/molecule/<scenario>, MOLECULE_JOBS at a time (default 2), each in its
# own process with its own ephemeral directory and log; a time table at the end; the stage fails
# when any scenario fails, and a failed scenario's log is printed. Before a scenario starts and
# after it ends, what a killed run left behind is removed: the containers and networks its
# molecule.yml names, and the loop devices of its platforms (backing file
# pptv-molecule-<platform name>.img, see docs/molecule.md).
# MOLECULE_SCENARIOS narrows the run: `make molecule MOLECULE_SCENARIOS='zookeeper/default'`.
# See docs/testing.md.
molecule_leftovers() {  # scenario directory -> removes its platforms' containers, networks, loops
    local names kind name dev file
    names=$("$PY" - "$1/molecule.yml" <<'PYEOF'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1])) or {}
for platform in config.get("platforms") or []:
    print("container", platform["name"])
    for network in platform.get("docker_networks") or []:
        print("network", network["name"])
PYEOF
) || return 1
    while read -r kind name; do
        [ -n "$name" ] || continue
        if [ "$kind" = container ]; then
            if docker container inspect "$name" >/dev/null 2>&1; then
                echo "removing leftover container $name"; docker rm -f -v "$name" >/dev/null
            fi
            # Loop devices stay attached in the host's kernel when their container is gone.
            while read -r dev file; do
                [ "${file##*/}" = "pptv-molecule-$name.img" ] || continue
                echo "detaching leftover loop device $dev ($file)"; losetup -d "$dev" || true
            done < <(losetup -l -n -O NAME,BACK-FILE 2>/dev/null)
        elif docker network inspect "$name" >/dev/null 2>&1; then
            echo "removing leftover network $name"; docker network rm "$name" >/dev/null
        fi
    done <<<"$names"
}
molecule_one() {  # role scenario log -> exit status of `molecule test`
    local role=$1 scenario=$2 log=$3 ephemeral
    ephemeral="$STATE_DIR/molecule/$(echo "$root" | sha1sum | cut -c1-8)/$role/$scenario"
    rm -rf "$ephemeral" && mkdir -p "$ephemeral"
    {
        molecule_leftovers "roles/$role/molecule/$scenario"
        (cd "roles/$role" && MOLECULE_EPHEMERAL_DIRECTORY="$ephemeral" ANSIBLE_FORCE_COLOR=0 \
            PY_COLORS=0 molecule test -s "$scenario")
        local rc=$?
        molecule_leftovers "roles/$role/molecule/$scenario"
        return "$rc"
    } >"$log" 2>&1
}
stage_molecule() {
    local jobs=${MOLECULE_JOBS:-2} logs="$STATE_DIR/molecule/logs" dir scenarios=() item
    for dir in roles/*/molecule/*/; do
        [ -f "$dir/molecule.yml" ] || continue
        item=${dir#roles/}; item=${item%/}; item=${item/\/molecule\//\/}
        if [ -n "${MOLECULE_SCENARIOS:-}" ] && [[ " $MOLECULE_SCENARIOS " != *" $item "* ]]; then
            continue
        fi
        scenarios+=("$item")
    done
    [ ${#scenarios[@]} -gt 0 ] || { echo "no Molecule scenarios"; return 0; }
    mkdir -p "$logs"
    echo "running ${#scenarios[@]} scenarios, $jobs at a time; logs in $logs"
    local -A status_of=() time_of=()
    local running=0 started=$SECONDS
    for item in "${scenarios[@]}"; do
        while [ "$running" -ge "$jobs" ]; do wait -n; running=$((running - 1)); done
        ( s=$SECONDS; molecule_one "${item%%/*}" "${item#*/}" "$logs/${item/\//-}.log"
          rc=$?; echo "$rc $((SECONDS - s))" >"$logs/${item/\//-}.rc"; exit "$rc" ) &
        echo "  started $item"
        running=$((running + 1))
    done
    wait
    local failed=0 rc secs
    for item in "${scenarios[@]}"; do
        read -r rc secs <"$logs/${item/\//-}.rc" 2>/dev/null || { rc=1; secs=?; }
        status_of[$item]=$([ "$rc" = 0 ] && echo ok || echo FAILED); time_of[$item]=$secs
        if [ "$rc" != 0 ]; then
            failed=$((failed + 1))
            printf '\n-------- %s FAILED: %s --------\n' "$item" "$logs/${item/\//-}.log"
            cat "$logs/${item/\//-}.log"
        fi
    done
    printf '\n  %-34s %-7s %6s\n' scenario result seconds
    for item in "${scenarios[@]}"; do
        printf '  %-34s %-7s %6s\n' "$item" "${status_of[$item]}" "${time_of[$item]}"
    done
    printf '  %-34s %-7s %6s\n' "(stage, $jobs at a time)" "" "$((SECONDS - started))"
    [ "$failed" -eq 0 ]
}

PYTEST_ARGS=${PYTEST_ARGS:-}
# e.g. SANITY_ARGS="--test validate-modules plugins/modules/dns_record.py"
SANITY_ARGS=${SANITY_ARGS:-}
UNITS_ARGS=${UNITS_ARGS:-}
stages=("$@")
[ "${stages[0]:-all}" = all ] && stages=("${ALL_STAGES[@]}")

names=() results=() times=()
passed=0 failed=0
for stage in "${stages[@]}"; do
    printf '\n======== %s ========\n' "$stage"
    start=$SECONDS
    if "stage_$stage"; then status=ok; passed=$((passed + 1)); else status=FAILED; failed=$((failed + 1)); fi
    names+=("$stage"); results+=("$status"); times+=($((SECONDS - start)))
done

printf '\n======== summary ========\n'
for i in "${!names[@]}"; do
    printf '  %-14s %-7s %4ss\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
done
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
