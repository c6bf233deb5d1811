# OCI image helpers shared by images.sh (test images, collector) and holdfast-image.sh (Holdfast itself).
# Sourced after lib.sh, not run.
# shellcheck shell=bash

sha() { sha256sum "$1" | cut -d' ' -f1; }

# oci_archive ROOTFS NAME OUT CONFIG_JSON_FRAGMENT  — one-layer OCI image archive, reproducible (mtime 0, sorted).
oci_archive() {
  local rootfs="$1" name="$2" out="$3" cfg="$4" t; t="$(mktemp -d)"
  mkdir -p "$t/blobs/sha256"
  tar -C "$rootfs" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$t/layer.tar" .
  local diffid; diffid="$(sha "$t/layer.tar")"
  gzip -n "-${OCI_GZIP_LEVEL:-6}" < "$t/layer.tar" > "$t/layer.tgz"  # level: the app image uses a faster one
  local ldig lsize; ldig="$(sha "$t/layer.tgz")"; lsize="$(stat -c %s "$t/layer.tgz")"
  mv "$t/layer.tgz" "$t/blobs/sha256/$ldig"; rm "$t/layer.tar"
  printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/cluster/images.sh"}]}' "$cfg" "$diffid" > "$t/config.json"
  local cdig csize; cdig="$(sha "$t/config.json")"; csize="$(stat -c %s "$t/config.json")"; mv "$t/config.json" "$t/blobs/sha256/$cdig"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$cdig" "$csize" "$ldig" "$lsize" > "$t/manifest.json"
  local mdig msize; mdig="$(sha "$t/manifest.json")"; msize="$(stat -c %s "$t/manifest.json")"; mv "$t/manifest.json" "$t/blobs/sha256/$mdig"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' "$mdig" "$msize" "$name" "${name##*:}" > "$t/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$t/oci-layout"
  tar -C "$t" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$out.tmp" oci-layout index.json blobs
  mv "$out.tmp" "$out"; rm -rf "$t"
  log "  built $name -> $out ($(du -h "$out" | cut -f1), manifest sha256:${mdig:0:12})"
}

# copy a dynamically linked binary and the shared libraries ldd resolves for it into ROOTFS (same paths)
copy_with_libs() {
  local root="$1" bin="$2" dest="${3:-$2}" lib
  install -D -m 0755 "$bin" "$root$dest"
  for lib in $(ldd "$bin" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\/lib/{print $1}'); do
    local real; real="$(readlink -f "$lib")"
    local d="$lib"; d="${d#/usr}"; # usrmerge: keep libs under /lib/... in the image
    [[ -e "$root$d" ]] || install -D -m 0755 "$real" "$root$d"
  done
}

# oci_import ARCHIVE NAME  — imports into containerd's k8s.io namespace unless NAME already has the archive's digest
oci_import() {
  local f="$1" name="$2" want
  want="$(tar -xOf "$f" index.json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).manifests[0].digest))')"
  if ctr -a "$CONTAINERD_SOCK" -n k8s.io images ls 2>/dev/null | awk -v n="$name" '$1==n{print $3}' | grep -qx "$want"; then
    return 0
  fi
  ctr -a "$CONTAINERD_SOCK" -n k8s.io images import --all-platforms "$f" >&2
}
