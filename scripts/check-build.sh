#!/usr/bin/env bash
# Builds the galaxy tarball, checks what it leaves out, installs it (--no-deps: Galaxy is out of
# reach) into a clean virtualenv with ansible-core only, and renders every module's docs from it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
work="$STATE_DIR/build-check/$(echo "$root" | sha1sum | cut -c1-8)"
rm -rf "$work" && mkdir -p "$work"

cd "$root"

plugin_names() {  # plugin type folder -> sorted plugin names in this checkout
    [ -d "plugins/$1" ] || return 0
    find "plugins/$1" -name '*.py' ! -name '__init__.py' -exec basename {} .py \; | sort
}

ansible-galaxy collection build --force --output-path "$work" . >/dev/null
tarball=$(ls "$work"/pptv-dcos-*.tar.gz)
echo "built $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"

leaked=$(tar -tzf "$tarball" | grep -E '^(lab|bench|scripts|\.ci|\.venv|\.collections|\.git|tests/output)/|__pycache__' || true)
[ -z "$leaked" ] || die "the tarball holds files build_ignore should leave out:
$leaked"

core=$(grep -E '^ansible-core==' requirements.txt)
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "$core" >"$work/pip.log" 2>&1 \
    || die "pip install $core failed; see $work/pip.log"
printf "[defaults]\n" >"$work/ansible.cfg"  # nothing from the checkout's ansible.cfg
export ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_CONFIG="$work/ansible.cfg"
"$work/venv/bin/ansible-galaxy" collection install --no-deps -p "$work/collections" "$tarball" >/dev/null

listed=$("$work/venv/bin/ansible-doc" -l pptv.dcos -t module | awk '{print $1}' | sort)
expected=$(plugin_names modules | sed 's/^/pptv.dcos./')
[ "$listed" = "$expected" ] || die "ansible-doc -l lists
${listed:-nothing}
but plugins/modules holds
${expected:-nothing}"
for module in $listed; do
    "$work/venv/bin/ansible-doc" -t module "$module" >/dev/null || die "ansible-doc cannot render $module"
done
for lookup in $(plugin_names lookup); do
    "$work/venv/bin/ansible-doc" -t lookup "pptv.dcos.$lookup" >/dev/null || die "ansible-doc cannot render lookup $lookup"
done
echo "installed into a clean venv; ansible-doc renders $(echo "$listed" | grep -c . || true) modules"
