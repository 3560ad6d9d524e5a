#!/usr/bin/env bash
# Builds the local images everything else starts from, when missing or out of date:
#   pptv-dcos/base:bookworm     debootstrap --variant=minbase bookworm | docker import
#   pptv-dcos/systemd:bookworm  the base plus systemd, for lab hosts and Molecule platforms
#   pptv-dcos/app:bookworm      the base plus Python 3, for the lab's test apps (HTTP servers)
#   pptv-dcos/redis:bookworm    the base plus redis-server (data in /data), for the lab's environments
#   pptv-dcos/bind:bookworm     the base plus bind9, an environment's own DNS (roles/dns_server)
#   pptv-dcos/sample:bookworm   "the big image": the sample application (lab/images/sample/sample.py)
#                               with its production config baked in, for the environments' services
#   pptv-dcos/mariadb:bookworm  the base plus mariadb-server (data in /var/lib/mysql, sample database)
#   pptv-dcos/zookeeper:bookworm the base plus Debian's ZooKeeper and a headless JRE, standalone
#   pptv-dcos/molecule:bookworm the systemd image plus the platform roles' Debian packages, for the
#                               roles' Molecule scenarios (lab/images/molecule, docs/molecule.md)
# There is no container registry, so nothing can be pulled; each is cached by tag and by a
# hash of its inputs, so a second run costs a couple of seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

BASE_IMAGE=${PPTV_BASE_IMAGE:-pptv-dcos/base:bookworm}
SYSTEMD_IMAGE=${PPTV_SYSTEMD_IMAGE:-pptv-dcos/systemd:bookworm}
APP_IMAGE=${PPTV_APP_IMAGE:-pptv-dcos/app:bookworm}
REDIS_IMAGE=${PPTV_REDIS_IMAGE:-pptv-dcos/redis:bookworm}
BIND_IMAGE=${PPTV_BIND_IMAGE:-pptv-dcos/bind:bookworm}
SAMPLE_IMAGE=${PPTV_SAMPLE_IMAGE:-pptv-dcos/sample:bookworm}
MARIADB_IMAGE=${PPTV_MARIADB_IMAGE:-pptv-dcos/mariadb:bookworm}
ZOOKEEPER_IMAGE=${PPTV_ZOOKEEPER_IMAGE:-pptv-dcos/zookeeper:bookworm}
MOLECULE_IMAGE=${PPTV_MOLECULE_IMAGE:-pptv-dcos/molecule:bookworm}
MIRROR=${PPTV_DEBIAN_MIRROR:-http://deb.debian.org/debian}

image_label() {  # image, label -> value or empty
    docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

build_base() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        return 0
    fi
    log "building $BASE_IMAGE with debootstrap (about a minute)"
    local rootfs
    rootfs=$(mktemp -d "${TMPDIR:-/tmp}/pptv-rootfs.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$rootfs'" RETURN
    debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$STATE_DIR/debootstrap.log" 2>&1 \
        || die "debootstrap failed; see $STATE_DIR/debootstrap.log"
    # Keep the image small and let apt inside it reach the same mirror.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    echo "deb $MIRROR bookworm main" >"$rootfs/etc/apt/sources.list"
    tar -C "$rootfs" -c . | docker import \
        --change 'CMD ["/bin/bash"]' --change 'LABEL org.pptv.dcos.image=base' - "$BASE_IMAGE" >/dev/null
}

build_from_base() {  # image, context directory under lab/images[, parent image, build-arg name]
    local image=$1 context="$root/lab/images/$2" parent=${3:-$BASE_IMAGE} arg=${4:-BASE} digest
    digest=$( (cat "$context"/*; docker image inspect -f '{{.Id}}' "$parent") | sha256sum | cut -c1-16)
    if [ "$(image_label "$image" org.pptv.dcos.inputs)" = "$digest" ]; then
        return 0
    fi
    log "building $image"
    docker build -q --build-arg "$arg=$parent" --label "org.pptv.dcos.inputs=$digest" \
        -t "$image" "$context" >"$STATE_DIR/$2-image.log" 2>&1 \
        || die "building $image failed; see $STATE_DIR/$2-image.log"
}

mkdir -p "$STATE_DIR"
build_base
build_from_base "$SYSTEMD_IMAGE" systemd
build_from_base "$APP_IMAGE" app
build_from_base "$REDIS_IMAGE" redis
build_from_base "$BIND_IMAGE" bind
# The environments' images (playbooks/deploy_env.yml): flat contexts, hashed file by file.
build_from_base "$SAMPLE_IMAGE" sample
build_from_base "$MARIADB_IMAGE" mariadb
build_from_base "$ZOOKEEPER_IMAGE" zookeeper
# About three minutes the first time (apt downloads); cached by the hash of its Dockerfile and of
# the systemd image it starts from.
build_from_base "$MOLECULE_IMAGE" molecule "$SYSTEMD_IMAGE" SYSTEMD
