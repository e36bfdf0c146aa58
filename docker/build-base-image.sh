#!/usr/bin/env bash
# Builds a local Python 3.11 base image from Debian packages, for machines that cannot pull from a
# registry: debootstrap a minimal Debian bookworm with python3 and python3-venv, then `docker import` it.
#
#   docker/build-base-image.sh [IMAGE]        # default gameday-base:bookworm; reused when it exists
#   FORCE=1 docker/build-base-image.sh        # rebuild even when the image exists
#   DEBIAN_MIRROR=http://... docker/build-base-image.sh
#
# Needs root (debootstrap), the debootstrap package and a running Docker daemon. About a minute.
set -euo pipefail

IMAGE="${1:-gameday-base:bookworm}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

fail() {
    echo "build-base-image: $*" >&2
    exit 1
}

command -v docker >/dev/null 2>&1 || fail "docker is not installed (apt-get install docker.io)"
docker info >/dev/null 2>&1 || fail "no Docker daemon answers; start one (as root: dockerd > /tmp/dockerd.log 2>&1 &)"
if [ "${FORCE:-0}" != "1" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "build-base-image: $IMAGE exists; reusing it (FORCE=1 rebuilds)"
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 || fail "debootstrap is not installed (apt-get install debootstrap)"
[ "$(id -u)" -eq 0 ] || fail "debootstrap needs root"

root="$(mktemp -d /tmp/gameday-base.XXXXXX)"
# The root file system is large and owned by root: remove it whatever happens, Ctrl-C included.
trap 'rm -rf --one-file-system "$root"' EXIT
started=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; rm -f "$root.log"; fail "debootstrap $SUITE from $MIRROR failed"; }
rm -f "$root.log"
# Package lists, caches and docs are not needed at run time; they are a third of the size.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$IMAGE" >/dev/null
echo "build-base-image: built $IMAGE in $(( $(date +%s) - started ))s"
