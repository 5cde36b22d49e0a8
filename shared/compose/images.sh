#!/usr/bin/env bash
# `make compose-images`: the images docker-compose.offline.yml names, for an engine that cannot
# pull (no registry). They are stand-ins, not the upstream images:
#
#   sagaworks-offline/debian:bookworm   Debian bookworm made by debootstrap (cached as a tarball)
#                                       and `docker import`, with the packages below;
#   sagaworks-offline/postgres          Debian's PostgreSQL 15 behind the postgres image's
#                                       entrypoint contract (POSTGRES_*, docker-entrypoint-initdb.d);
#   sagaworks-offline/kafka             the native stack's nisshi broker, configured from the
#                                       apache/kafka image's KAFKA_* listener variables;
#   sagaworks-offline/toxiproxy         our Toxiproxy-API server, with Shopify's flags and paths;
#   sagaworks-offline/prometheus        Debian's Prometheus, with prom/prometheus's paths;
#   sagaworks-offline/sagaworks         the project's image: the host's release binaries on the
#                                       base, as the Dockerfile's runtime stage lays them out.
#
# Usage: images.sh CACHE_DIR NISSHI_BIN BIN_DIR (the Makefile passes them). Reruns are cheap: the
# base is made once per package list, and the other images are small layers over it.
set -euo pipefail
cache=$1 nisshi=$2 bins=$3
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What every image needs (curl for healthchecks) and what the stand-ins run.
packages="ca-certificates curl postgresql prometheus"
base=sagaworks-offline/debian:$suite

step() { echo "==> $*"; }

key=$(echo "$suite $mirror $packages" | sha256sum | cut -c1-16)
tarball="$cache/debian-$suite-$key.tar"
if [ "$(docker image inspect -f '{{index .Config.Labels "key"}}' "$base" 2>/dev/null)" != "$key" ]; then
  if [ ! -f "$tarball" ]; then
    command -v debootstrap >/dev/null || {
      step "installing debootstrap (Debian package)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    step "debootstrap: Debian $suite from $mirror into $root (once; a few minutes)"
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >/dev/null
    # Packages go in without starting services or creating a default cluster in the image.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
    mkdir -p "$root/etc/postgresql-common"
    echo "create_main_cluster = false" >"$root/etc/postgresql-common/createcluster.conf"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    step "installing $packages into it"
    chroot "$root" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends $packages >/dev/null
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root/etc/resolv.conf"
    mkdir -p "$cache"
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
    trap - EXIT
  fi
  step "importing $tarball as $base"
  docker import --change "LABEL key=$key" --change 'CMD ["bash"]' "$tarball" "$base" >/dev/null
fi

# Each image is built from a context of its folder plus the binaries it needs.
build() {
  local name=$1 tag=$2; shift 2
  local context
  context=$(mktemp -d)
  cp -r "$here/offline/$name/." "$context/"
  if [ $# -gt 0 ]; then
    cp "$@" "$context/"
    # Release builds keep debug info (Cargo.toml); an image has no use for it.
    (cd "$context" && strip --strip-debug "${@##*/}")
  fi
  step "building $tag"
  # The legacy builder (an engine without buildx) says it is deprecated: shown only on failure.
  if ! docker build --quiet --build-arg "BASE=$base" -t "$tag" "$context" >/dev/null 2>"$context.log"; then
    cat "$context.log" >&2
    exit 1
  fi
  rm -rf "$context" "$context.log"
}

build postgres sagaworks-offline/postgres
build kafka sagaworks-offline/kafka "$nisshi"
build toxiproxy sagaworks-offline/toxiproxy "$bins/toxiproxy-server"
build prometheus sagaworks-offline/prometheus
services=$(cd "$here/../../services" && ls -d -- */ | tr -d /)
build sagaworks sagaworks-offline/sagaworks $(for binary in $services demo; do echo "$bins/$binary"; done)
step "offline images ready: docker compose -f docker-compose.yml -f docker-compose.offline.yml up"
