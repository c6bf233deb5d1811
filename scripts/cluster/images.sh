#!/usr/bin/env bash
# Builds Holdfast's local container images as OCI archives (no registry, no Docker) and imports them into
# containerd's k8s.io namespace. Archives are cached in $HOLDFAST_CACHE_DIR/images/<name>-<hash>.oci.tar
# (hash of the inputs), so a second run only re-imports.
#   docker.io/holdfast/pause:local       static C pause process (containerd sandbox image)
#   docker.io/holdfast/busybox:local     busybox-static (a workload with a shell)
#   docker.io/holdfast/distroless:local  one static C binary (tinyhttp) + /app/message; no shell, no tools; uid 65532
#   docker.io/holdfast/collector:local   trusted tools for captures (busybox, gdb+gcore, holdfast-memdump, ss, conntrack, GNU tar, tcpdump);
#                                        also named docker.io/holdfast/collector@sha256:<manifest digest> on import,
#                                        the reference written to $HOLDFAST_CACHE_DIR/images/collector.ref
#   docker.io/holdfast/hostile:local     busybox + /hostile (static C: 3 GiB NORESERVE map, decoys, 200k sockets) for tamper tests
# Usage: images.sh [build|import]   (default: build and import; import needs containerd from up.sh running)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMG_CACHE="$HOLDFAST_CACHE_DIR/images"
SRC="$CLUSTER_SCRIPTS/images"
mkdir -p "$IMG_CACHE"

source "$CLUSTER_SCRIPTS/oci.sh"

busybox_tree() { # ROOT: busybox + applet symlinks (never overwriting real files)
  local root="$1" a
  install -D -m 0755 /bin/busybox "$root/bin/busybox"
  for a in $(/bin/busybox --list-full); do
    [[ -e "$root/$a" || -L "$root/$a" ]] && continue
    mkdir -p "$root/$(dirname "$a")"; ln -s /bin/busybox "$root/$a"
  done
}

need_pkgs() { # install Debian packages that are missing
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return
  log "apt-get install ${missing[*]}"
  apt-get update -qq >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

inputs_hash() { # hash of this script, the C sources and the host binaries that go into images
  cat "${BASH_SOURCE[0]}" "$CLUSTER_SCRIPTS/oci.sh" "$SRC"/*.c "$SRC"/*.sh /bin/busybox /usr/bin/ss /usr/sbin/conntrack /usr/bin/tar /usr/bin/tcpdump 2>/dev/null | sha256sum | cut -c1-12
}

GDB_DEB_DIR="$HOLDFAST_CACHE_DIR/debs"
fetch_gdb_minimal() { # gdb without python (gdb-minimal), unpacked without installing it (it conflicts with gdb)
  mkdir -p "$GDB_DEB_DIR"
  if ! ls "$GDB_DEB_DIR"/gdb-minimal_*.deb >/dev/null 2>&1; then
    (cd "$GDB_DEB_DIR" && apt-get download gdb-minimal >&2) || return 1
  fi
  rm -rf "$GDB_DEB_DIR/x"; dpkg-deb -x "$(ls "$GDB_DEB_DIR"/gdb-minimal_*.deb | head -1)" "$GDB_DEB_DIR/x"
}

IMAGES=(pause busybox distroless collector hostile)
build_images() {
  need_pkgs busybox-static gcc libc6-dev iproute2 conntrack tar gdb tcpdump
  local h; h="$(inputs_hash)"
  local all_cached=1 i
  for i in "${IMAGES[@]}"; do [[ -f "$IMG_CACHE/$i-$h.oci.tar" ]] || all_cached=0; done
  if ((all_cached)); then log "images: cached ($IMG_CACHE/*-$h.oci.tar)"; return; fi
  log "building images (inputs $h)"
  local w; w="$(mktemp -d)"
  local cflags=(-static -Os -s -Wall)

  # pause
  mkdir -p "$w/pause"; gcc "${cflags[@]}" -o "$w/pause/pause" "$SRC/pause.c"
  oci_archive "$w/pause" docker.io/holdfast/pause:local "$IMG_CACHE/pause-$h.oci.tar" \
    '{"Entrypoint":["/pause"]}'

  # busybox workload
  local r="$w/busybox"; busybox_tree "$r"; mkdir -p "$r/etc" "$r/tmp" "$r/root"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$r/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$r/etc/group"
  echo "holdfast busybox workload image" > "$r/etc/holdfast-image"
  oci_archive "$r" docker.io/holdfast/busybox:local "$IMG_CACHE/busybox-$h.oci.tar" \
    '{"Cmd":["sh"],"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/"}'

  # distroless: one static binary, a data file, passwd for uid 65532; nothing else
  r="$w/distroless"; mkdir -p "$r/app" "$r/etc"
  gcc "${cflags[@]}" -o "$r/app/tinyhttp" "$SRC/tinyhttp.c"
  echo "holdfast-distroless-marker: the only data file in this image" > "$r/app/message"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$r/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$r/etc/group"
  oci_archive "$r" docker.io/holdfast/distroless:local "$IMG_CACHE/distroless-$h.oci.tar" \
    '{"Entrypoint":["/app/tinyhttp"],"User":"65532:65532","Env":["PORT=8080"],"WorkingDir":"/app","ExposedPorts":{"8080/tcp":{}}}'

  # hostile: the busybox workload plus /hostile (test/cluster/tamper-memory.test.ts)
  r="$w/hostile"; busybox_tree "$r"; mkdir -p "$r/etc" "$r/tmp" "$r/root"
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"; printf 'root:x:0:\n' > "$r/etc/group"
  gcc "${cflags[@]}" -o "$r/hostile" "$SRC/hostile.c"
  oci_archive "$r" docker.io/holdfast/hostile:local "$IMG_CACHE/hostile-$h.oci.tar" \
    '{"Cmd":["sh"],"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/"}'

  # collector
  r="$w/collector"; mkdir -p "$r/etc" "$r/tmp" "$r/evidence"; chmod 1777 "$r/tmp"
  mkdir -p "$r/usr/bin"; gcc "${cflags[@]}" -o "$r/usr/bin/holdfast-memdump" "$SRC/memdump.c"
  copy_with_libs "$r" /usr/bin/ss /usr/bin/ss
  copy_with_libs "$r" /usr/sbin/conntrack /usr/sbin/conntrack
  copy_with_libs "$r" /usr/bin/tar /usr/bin/tar
  copy_with_libs "$r" /usr/bin/tcpdump /usr/bin/tcpdump
  local gdbnote="gdb: not included (gdb-minimal could not be fetched)"
  if fetch_gdb_minimal; then
    copy_with_libs "$r" "$GDB_DEB_DIR/x/usr/bin/gdb" /usr/bin/gdb
    install -m 0755 "$SRC/gcore.sh" "$r/usr/bin/gcore"   # our POSIX-sh gcore (Debian's needs bash)
    mkdir -p "$r/usr/share/gdb"; cp -a "$GDB_DEB_DIR/x/usr/share/gdb/." "$r/usr/share/gdb/" 2>/dev/null || true
    gdbnote="gdb $("$GDB_DEB_DIR/x/usr/bin/gdb" --version | head -1 | awk '{print $NF}') (Debian gdb-minimal, no python) + gcore"
  fi
  busybox_tree "$r"
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"; printf 'root:x:0:\n' > "$r/etc/group"
  {
    echo "holdfast/collector:local — trusted tools for Holdfast capture steps (built by scripts/cluster/images.sh)"
    echo "busybox $(/bin/busybox | head -1 | awk '{print $2}') (static, Debian busybox-static): sh, ps, ls, cat, cp, find, sha256sum, nsenter, ip, netstat, nc, wget, tar (GNU tar preferred), gzip, ..."
    echo "$gdbnote"
    echo "holdfast-memdump (scripts/cluster/images/memdump.c, static): resident pages of a process as an ELF core, streamed"
    echo "ss: $(/usr/bin/ss -V 2>&1 | head -1) (Debian iproute2, dynamic + its libs)"
    echo "conntrack: $(/usr/sbin/conntrack --version 2>&1 | head -1) (Debian, dynamic + its libs)"
    echo "tar: $(/usr/bin/tar --version | head -1) (Debian, dynamic + its libs)"
    echo "tcpdump: $(/usr/bin/tcpdump --version 2>&1 | head -1) (Debian, dynamic + its libs)"
  } > "$r/etc/holdfast-collector-manifest"
  oci_archive "$r" docker.io/holdfast/collector:local "$IMG_CACHE/collector-$h.oci.tar" \
    '{"Cmd":["sh"],"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/","Labels":{"org.opencontainers.image.title":"holdfast-collector"}}'
  rm -rf "$w"
  # drop archives of older inputs
  find "$IMG_CACHE" -maxdepth 1 -name '*.oci.tar' ! -name "*-$h.oci.tar" -delete
}

import_images() {
  local h i; h="$(inputs_hash)"
  for i in "${IMAGES[@]}"; do
    local f="$IMG_CACHE/$i-$h.oci.tar"
    [[ -f "$f" ]] || die "missing $f (run images.sh build)"
    oci_import "$f" "docker.io/holdfast/$i:local"
    if [[ $i == collector ]]; then
      # The worker runs the collector only by digest (a tag is refused): the image also gets its digest name,
      # as a pull by digest from a registry would give it, so the kubelet finds `...collector@sha256:<manifest>`
      # and reports that as the container's imageID. Tests, the demo and `npm start` read the reference here.
      local want; want="$(tar -xOf "$f" index.json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).manifests[0].digest))')"
      local ref="docker.io/holdfast/$i@$want"
      ctr -a "$CONTAINERD_SOCK" -n k8s.io images ls -q "name==$ref" 2>/dev/null | grep -q . ||
        ctr -a "$CONTAINERD_SOCK" -n k8s.io images tag "docker.io/holdfast/$i:local" "$ref" >&2
      printf '%s\n' "$ref" > "$IMG_CACHE/collector.ref.tmp" && mv "$IMG_CACHE/collector.ref.tmp" "$IMG_CACHE/collector.ref"
    fi
  done
  log "images imported into containerd k8s.io: $(ctr -a "$CONTAINERD_SOCK" -n k8s.io images ls -q | grep holdfast | tr '\n' ' ')"
}

case "${1:-all}" in
  build) build_images ;;
  import) import_images ;;
  all) build_images; import_images ;;
  *) die "usage: images.sh [build|import]" ;;
esac
