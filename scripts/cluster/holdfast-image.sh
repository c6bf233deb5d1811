#!/usr/bin/env bash
# Builds Holdfast's own image, docker.io/holdfast/holdfast:local, as an OCI archive (no Docker, no registry:
# the same way images.sh builds the collector) and imports it into containerd's k8s.io namespace.
#   /usr/local/bin/node   this machine's Node 20 binary and the shared libraries ldd resolves for it
#   /app/dist             the built JavaScript (run `npm run build` first; tests, benches, dev scripts left out)
#   /app/node_modules     the production dependency tree (`npm ls --omit=dev`), without type declarations,
#                         docs and the Temporal core bridge's other platforms; native addons get their libraries
# The archive is cached in $HOLDFAST_CACHE_DIR/images/app/holdfast-<hash>.oci.tar, the hash over this script,
# oci.sh, the node binary, package-lock.json and every file under dist/: an unchanged build only re-imports.
# Usage: holdfast-image.sh [build|import]   (default: both; import needs containerd from up.sh running)
# The last stdout line of build is the archive's path.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$CLUSTER_SCRIPTS/oci.sh"

IMAGE=docker.io/holdfast/holdfast:local
APP_CACHE="$HOLDFAST_CACHE_DIR/images/app"
NODE_BIN="$(readlink -f "$(command -v node)")"
DIST="$REPO_ROOT/dist"
mkdir -p "$APP_CACHE"

# The runtime packages, relative to the repository (node_modules/...), from the lockfile's tree.
prod_packages() {
  (cd "$REPO_ROOT" && npm ls --omit=dev --all --parseable 2>/dev/null) | sed "s|^$REPO_ROOT/||" | grep '^node_modules/' | sort -u
}

inputs_hash() {
  [[ -d "$DIST/worker" && -d "$DIST/api" ]] || die "no dist/ (run npm run build first)"
  {
    cat "${BASH_SOURCE[0]}" "$CLUSTER_SCRIPTS/oci.sh" "$NODE_BIN" "$REPO_ROOT/package-lock.json"
    # names and contents of the built files (test and bench builds are not in the image)
    (cd "$DIST" && find . -type f ! -path './test/*' ! -path './bench/*' ! -path './scripts/*' ! -name .tsbuildinfo -print0 | sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-12
}

archive_path() { echo "$APP_CACHE/holdfast-$(inputs_hash).oci.tar"; }

build_image() {
  local out; out="$(archive_path)"
  if [[ -f "$out" ]]; then
    log "holdfast image: cached ($out, $(du -h "$out" | cut -f1))"
    echo "$out"
    return
  fi
  local started=$SECONDS w; w="$(mktemp -d)"
  local r="$w/rootfs"
  log "building $IMAGE (node $("$NODE_BIN" --version))"
  mkdir -p "$r/app/dist" "$r/etc" "$r/tmp" "$r/var/lib/holdfast"; chmod 1777 "$r/tmp"
  copy_with_libs "$r" "$NODE_BIN" /usr/local/bin/node
  # dist/ without the test and bench builds
  (cd "$DIST" && find . -type f ! -path './test/*' ! -path './bench/*' ! -path './scripts/*' ! -name .tsbuildinfo -print0 |
    tar -c --null -T - -f - | tar -C "$r/app/dist" -xf -)
  install -m 0644 "$REPO_ROOT/package.json" "$r/app/package.json"
  # node_modules: each production package's own files (nested node_modules are packages listed themselves)
  local pkg
  (cd "$REPO_ROOT" && while read -r pkg; do
    find -L "$pkg" -path "$pkg/node_modules" -prune -o -type f \
      ! -name '*.d.ts' ! -name '*.d.mts' ! -name '*.d.cts' ! -name '*.md' ! -name '*.markdown' \
      ! -path 'node_modules/@temporalio/core-bridge/releases/*' \
      ! -path 'node_modules/@temporalio/core-bridge/sdk-core/*' \
      ! -path 'node_modules/@temporalio/core-bridge/src/*' \
      -print0
  done < <(prod_packages) | tar -c -h --null -T - -f -) | tar -C "$r/app" -xf -
  # the core bridge for this platform only (the others are 20 MB each)
  local bridge=node_modules/@temporalio/core-bridge/releases/x86_64-unknown-linux-gnu
  mkdir -p "$r/app/$bridge"; cp -L "$REPO_ROOT/$bridge/index.node" "$r/app/$bridge/index.node"
  # native addons: the shared libraries they need beyond node's
  local addon
  while read -r addon; do copy_with_libs "$w/libs" "$addon" /addon >/dev/null; done < <(find "$r/app/node_modules" -name '*.node')
  [[ -d "$w/libs/lib" ]] && cp -an "$w/libs/lib/." "$r/lib/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nholdfast:x:10001:10001:holdfast:/app:/sbin/nologin\n' > "$r/etc/passwd"
  printf 'root:x:0:\nholdfast:x:10001:\n' > "$r/etc/group"
  # /etc/hosts first (the kubelet writes it, hostAliases included); glibc without this file asks DNS first
  printf 'hosts: files dns\n' > "$r/etc/nsswitch.conf"
  echo "holdfast:local — node $("$NODE_BIN" --version), $(prod_packages | wc -l) production packages, built by scripts/cluster/holdfast-image.sh" \
    > "$r/etc/holdfast-image"
  local size_mb; size_mb="$(du -sm "$r" | cut -f1)"
  # gzip -1: the archive never leaves this machine; level 6 costs twice the time for ~10% less
  OCI_GZIP_LEVEL=1 oci_archive "$r" "$IMAGE" "$out" \
    '{"User":"10001:10001","Env":["PATH=/usr/local/bin:/usr/bin:/bin","HOME=/tmp","NODE_ENV=production","HOLDFAST_LOG_FORMAT=json","HOLDFAST_DATA_DIR=/var/lib/holdfast"],"WorkingDir":"/app","Cmd":["node","dist/api/main.js"],"Labels":{"org.opencontainers.image.title":"holdfast"}}'
  rm -rf "$w"
  find "$APP_CACHE" -maxdepth 1 -name 'holdfast-*.oci.tar' ! -name "$(basename "$out")" -delete
  log "holdfast image: ${size_mb} MB unpacked, archive $(du -h "$out" | cut -f1), built in $((SECONDS - started)) s"
  echo "$out"
}

import_image() {
  local f; f="$(archive_path)"
  [[ -f "$f" ]] || die "missing $f (run holdfast-image.sh build)"
  oci_import "$f" "$IMAGE"
  log "imported $IMAGE ($(tar -xOf "$f" index.json | grep -o 'sha256:[0-9a-f]*' | head -1))"
}

case "${1:-all}" in
  build) build_image ;;
  import) import_image ;;
  all) build_image; import_image ;;
  *) die "usage: holdfast-image.sh [build|import]" ;;
esac
