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
stage_molecule() {
    local scenarios=() role
    for role in roles/*/; do
        [ -d "$role/molecule" ] && scenarios+=("$role")
    done
    [ ${#scenarios[@]} -gt 0 ] || { echo "no Molecule scenarios yet"; return 0; }
    for role in "${scenarios[@]}"; do
        (cd "$role" && molecule test --all) || return 1
    done
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
