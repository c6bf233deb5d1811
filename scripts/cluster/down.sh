#!/usr/bin/env bash
# Stops the local cluster started by up.sh and leaves the machine clean: processes, container shims, mounts,
# CNI network namespaces, veths and the bridge, cgroups (kubepods), iptables/nftables rules, sysctls, and
# the cluster directory. Cached binaries/images ($HOLDFAST_CACHE_DIR) are kept.
# Flags: --keep-data (keep $HOLDFAST_CLUSTER_DIR: etcd data, PKI, logs), --check (only report leftovers)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$HOLDFAST_CACHE_DIR"; exec 9>>"$HOLDFAST_CACHE_DIR/cluster.lock"   # one down at a time (shared machine)
flock -w 900 9 || { echo "another cluster script holds $HOLDFAST_CACHE_DIR/cluster.lock" >&2; exit 1; }
set +e +o pipefail   # best effort: every cleanup step runs even if an earlier one finds nothing
KEEP=0; CHECK_ONLY=0
for a in "$@"; do
  case "$a" in --keep-data) KEEP=1 ;; --check) CHECK_ONLY=1 ;; -h|--help) sed -n '2,6p' "$0"; exit 0 ;; *) die "unknown flag $a" ;; esac
done
[[ $EUID -eq 0 ]] || die "must run as root"
T0=$SECONDS
PKI="$CLUSTER_DIR/pki"

pid_of() { [[ -s "$RUN_DIR/$1.pid" ]] && cat "$RUN_DIR/$1.pid"; }
stop() { # name [timeout]
  local n="$1" t="${2:-20}" p; p="$(pid_of "$n")" || return 0
  if kill -0 "$p" 2>/dev/null; then
    log "stopping $n (pid $p)"; kill -TERM "$p" 2>/dev/null || true
    local end=$((SECONDS + t)); while kill -0 "$p" 2>/dev/null && ((SECONDS < end)); do sleep 0.2; done
    kill -0 "$p" 2>/dev/null && { log "$n did not stop in ${t}s: SIGKILL"; kill -KILL "$p" 2>/dev/null || true; sleep 0.5; }
  fi
  rm -f "$RUN_DIR/$n.pid"
}
api() { curl -sS --max-time 10 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" -X "$1" "https://127.0.0.1:$APISERVER_PORT$2" "${@:3}"; }
ctrk() { ctr -a "$CONTAINERD_SOCK" -n k8s.io "$@"; }

leftovers() { # prints anything of ours still on the machine
  local p
  for p in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet containerd kube-network-policies; do
    [[ -s "$RUN_DIR/$p.pid" ]] && kill -0 "$(cat "$RUN_DIR/$p.pid")" 2>/dev/null && echo "process: $p pid $(cat "$RUN_DIR/$p.pid")"
  done
  pgrep -a -f "$CACHE_BIN/" 2>/dev/null | grep -E 'kube-|etcd-|kubelet' | sed 's/^/process: /' || true
  pgrep -a -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null | sed 's/^/process: /' || true
  awk -v a="$CLUSTER_DIR" -v b="$RUN_DIR" 'index($5,a)==1||index($5,b)==1||$5 ~ /^\/run\/netns\/cni-/{print "mount: " $5}' /proc/self/mountinfo
  ls /run/netns 2>/dev/null | grep '^cni-' | sed 's/^/netns: /' || true
  ip -o link show "$CNI_BRIDGE" 2>/dev/null | awk '{print "link: " $2}' || true
  ip -o link show type veth 2>/dev/null | awk '{print $2}' | grep '^veth' | sed 's/^/link: /' || true
  local t
  for t in iptables ip6tables; do
    for tbl in filter nat mangle; do
      $t -w -t "$tbl" -S 2>/dev/null | grep -E 'KUBE-|HOLDFAST-|CNI-' | sed "s/^/$t -t $tbl: /" || true
    done
  done
  nft list tables 2>/dev/null | grep -E 'kube-network-policies' | sed 's/^/nft: /' || true
  find /sys/fs/cgroup -maxdepth 2 -name kubepods -type d 2>/dev/null | sed 's/^/cgroup: /' || true
  [[ -d "$CLUSTER_DIR" ]] && ((KEEP == 0)) && echo "dir: $CLUSTER_DIR"
  [[ -d /var/log/containers && ! -f "$RUN_DIR/varlogcontainers.existed" && -f "$RUN_DIR/baseline.done" ]] && echo "dir: /var/log/containers"
  return 0
}

if ((CHECK_ONLY)); then l="$(leftovers)"; [[ -z "$l" ]] && { log "clean"; exit 0; }; echo "$l"; exit 1; fi

# 1. stop controllers so nothing recreates pods; then let the kubelet tear pods down (CNI DEL included)
stop kube-controller-manager; stop kube-scheduler
if curl -sf --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1 \
   && [[ -n "$(pid_of kubelet)" ]] && kill -0 "$(pid_of kubelet)" 2>/dev/null; then
  log "deleting all pods (grace 0) so the kubelet stops them cleanly"
  for ns in $(api GET /api/v1/namespaces | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{for(const n of JSON.parse(s).items)console.log(n.metadata.name)}catch{}})'); do
    api DELETE "/api/v1/namespaces/$ns/pods?gracePeriodSeconds=0" -o /dev/null || true
  done
  end=$((SECONDS + 45))
  while ((SECONDS < end)); do
    n="$(ctrk containers ls -q 2>/dev/null | wc -l)"; ((n == 0)) && break; sleep 1
  done
  log "containers left in containerd after pod deletion: $(ctrk containers ls -q 2>/dev/null | wc -l)"
fi
stop kubelet 30
# 2. whatever is left in containerd: kill tasks, delete containers (sandbox netns are removed below)
if ctrk version >/dev/null 2>&1; then
  for c in $(ctrk tasks ls -q 2>/dev/null); do ctrk tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
  sleep 1
  for c in $(ctrk tasks ls -q 2>/dev/null); do ctrk tasks delete -f "$c" >/dev/null 2>&1 || true; done
  for c in $(ctrk containers ls -q 2>/dev/null); do ctrk containers delete "$c" >/dev/null 2>&1 || true; done
fi
stop kube-network-policies; stop containerd 30
for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
stop kube-apiserver; stop etcd

# 3. mounts (deepest first): container rootfs, shm, kubelet volumes, CNI netns
awk -v a="$CLUSTER_DIR" -v b="$RUN_DIR" 'index($5,a)==1||index($5,b)==1||$5 ~ /^\/run\/netns\/cni-/{print $5}' /proc/self/mountinfo \
  | awk '{print length($0) " " $0}' | sort -rn | cut -d' ' -f2- | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
for f in /run/netns/cni-*; do if [[ -e "$f" ]]; then rm -f "$f"; fi; done

# 4. network: veths on our bridge, the bridge, netfilter rules, sysctls
for v in $(ip -o link show master "$CNI_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$v" 2>/dev/null || true; done
ip link del "$CNI_BRIDGE" 2>/dev/null || true
iptables -w -t mangle -D POSTROUTING -j HOLDFAST-NETPOL 2>/dev/null || true
for t in iptables ip6tables; do
  for tbl in filter nat mangle; do
    # rules that jump to our chains, then the chains themselves
    $t -w -t "$tbl" -S 2>/dev/null | grep -E '^-A ' | grep -E -- '-j (KUBE-|HOLDFAST-|CNI-)' | grep -vE '^-A (KUBE-|HOLDFAST-|CNI-)' \
      | while read -r r; do eval "$t -w -t $tbl ${r/-A/-D}" 2>/dev/null || true; done
    for ch in $($t -w -t "$tbl" -S 2>/dev/null | awk '$1=="-N"{print $2}' | grep -E '^(KUBE-|HOLDFAST-|CNI-)'); do
      $t -w -t "$tbl" -F "$ch" 2>/dev/null || true
    done
    for ch in $($t -w -t "$tbl" -S 2>/dev/null | awk '$1=="-N"{print $2}' | grep -E '^(KUBE-|HOLDFAST-|CNI-)'); do
      $t -w -t "$tbl" -X "$ch" 2>/dev/null || true
    done
  done
done
nft delete table inet kube-network-policies 2>/dev/null || true
if [[ -f "$RUN_DIR/nft-tables.before" ]]; then
  # nft tables that iptables-nft created for us (and that hold no rules now) are removed again
  nft list tables 2>/dev/null | sort | comm -13 "$RUN_DIR/nft-tables.before" - | while read -r _ fam name; do
    if ! nft list table "$fam" "$name" 2>/dev/null | grep -qE '^\s+(ip|ip6|meta|ct|counter|tcp|udp|iifname|oifname|jump|accept|drop|queue|mark|xt)'; then
      nft delete table "$fam" "$name" 2>/dev/null || true
    fi
  done
fi
{ [[ -s "$RUN_DIR/bridge-nf-call-iptables.before" ]] && cat "$RUN_DIR/bridge-nf-call-iptables.before" > /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null; } || true
{ [[ -s "$RUN_DIR/ip_forward.before" ]] && cat "$RUN_DIR/ip_forward.before" > /proc/sys/net/ipv4/ip_forward; } || true

# 5. cgroups made by the kubelet (cgroupfs driver): remove kubepods trees, deepest first
for ctl in /sys/fs/cgroup/*/; do
  [[ -d "$ctl/kubepods" ]] || continue
  find "$ctl/kubepods" -depth -type d 2>/dev/null | while read -r d; do rmdir "$d" 2>/dev/null || true; done
done

# 6. files and directories
[[ -f "$RUN_DIR/varlogcontainers.existed" ]] || rm -rf /var/log/containers || true
[[ -f "$RUN_DIR/varlogpods.existed" ]] || rm -rf /var/log/pods
if [[ -f "$RUN_DIR/baseline.done" && ! -f "$RUN_DIR/runcontainerd.existed" ]]; then rm -rf /run/containerd; fi
if ((KEEP == 0)); then rm -rf "$CLUSTER_DIR"; else log "keeping $CLUSTER_DIR (--keep-data)"; fi
l="$(KEEP=$KEEP leftovers)"
rm -rf "$RUN_DIR"
if [[ -n "$l" ]]; then log "down finished in $((SECONDS - T0))s but left:"; echo "$l" >&2; exit 1; fi
log "down: machine clean in $((SECONDS - T0))s"
