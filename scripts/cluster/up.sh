#!/usr/bin/env bash
# Starts a real single-node Kubernetes (v1.34, built from source) on this machine, as root:
# etcd, kube-apiserver (RBAC), kube-controller-manager, kube-scheduler, containerd (Debian 1.6) + runc,
# kubelet, bridge CNI (10.88.0.0/16 on hfcni0) and kube-network-policies for NetworkPolicy.
# Idempotent: components already running are left alone. Progress goes to stderr; the LAST stdout line is
# the admin kubeconfig path. See scripts/cluster/README.md.
# Flags: --no-build (fail instead of building missing binaries), --no-netpol (skip NetworkPolicy enforcement)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$HOLDFAST_CACHE_DIR"; exec 9>>"$HOLDFAST_CACHE_DIR/cluster.lock"   # one up at a time (shared machine)
flock -w 900 9 || { echo "another cluster script holds $HOLDFAST_CACHE_DIR/cluster.lock" >&2; exit 1; }
source "$CLUSTER_SCRIPTS/pki.sh"

BUILD=1; NETPOL=1
for a in "$@"; do
  case "$a" in
    --no-build) BUILD=0 ;;
    --no-netpol) NETPOL=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) die "unknown flag $a" ;;
  esac
done
[[ $EUID -eq 0 ]] || die "must run as root (containers, mounts, cgroups, netfilter)"
T0=$SECONDS

K8S_V="$(ver kubernetes version)"; ETCD_V="$(ver etcd version)"; KNP_V="$(ver kube-network-policies version)"
BIN_APISERVER="$CACHE_BIN/kube-apiserver-$K8S_V"; BIN_CM="$CACHE_BIN/kube-controller-manager-$K8S_V"
BIN_SCHED="$CACHE_BIN/kube-scheduler-$K8S_V"; BIN_KUBELET="$CACHE_BIN/kubelet-$K8S_V"
BIN_ETCD="$CACHE_BIN/etcd-$ETCD_V"; BIN_KNP="$CACHE_BIN/kube-network-policies-$KNP_V"
NODE_IP="${POD_CIDR%.*/*}.1"   # the bridge's own address (kubelet refuses a loopback node IP)
POD_GW_PREFIX="${POD_CIDR#*/}"
KUBECONFIG_ADMIN="$CLUSTER_DIR/admin.kubeconfig"
DEB_PKGS=(containerd runc containernetworking-plugins iptables nftables conntrack iproute2 busybox-static openssl curl socat)

# ---------- 0. packages, binaries, images ----------
missing=()
for p in "${DEB_PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
for b in "$BIN_APISERVER" "$BIN_CM" "$BIN_SCHED" "$BIN_KUBELET" "$BIN_ETCD" "$BIN_KNP"; do
  if [[ ! -x "$b" ]]; then
    ((BUILD)) || die "missing $b (run scripts/cluster/build.sh, or up.sh without --no-build)"
    log "missing $(basename "$b"): building (first run only)"
    bash "$CLUSTER_SCRIPTS/build.sh" all
    break
  fi
done
bash "$CLUSTER_SCRIPTS/images.sh" build

mkdir -p "$CLUSTER_DIR" "$LOG_DIR" "$RUN_DIR" "$KUBELET_ROOT" "$CLUSTER_DIR/cni/net.d" "$CLUSTER_DIR/cni/ipam"
make_pki
[[ -s "$PKI/tokens.csv" ]] || echo "$(openssl rand -hex 24),holdfast:kube-network-policies,holdfast-knp" > "$PKI/tokens.csv"

# record what the host looked like before the first start, so down.sh can restore it
if [[ ! -f "$RUN_DIR/baseline.done" ]]; then
  cat /proc/sys/net/bridge/bridge-nf-call-iptables > "$RUN_DIR/bridge-nf-call-iptables.before" 2>/dev/null || true
  cat /proc/sys/net/ipv4/ip_forward > "$RUN_DIR/ip_forward.before"
  nft list tables 2>/dev/null | sort > "$RUN_DIR/nft-tables.before" || true
  [[ -d /var/log/containers ]] && touch "$RUN_DIR/varlogcontainers.existed"
  [[ -d /var/log/pods ]] && touch "$RUN_DIR/varlogpods.existed"
  [[ -d /etc/cni ]] && touch "$RUN_DIR/etccni.existed"
  [[ -d /opt/cni ]] && touch "$RUN_DIR/optcni.existed"
  [[ -d /run/containerd ]] && touch "$RUN_DIR/runcontainerd.existed"   # containerd 1.6 shims put sockets in /run/containerd/s
  touch "$RUN_DIR/baseline.done"
fi

running() { # name -> 0 if its pidfile names a live process
  local f="$RUN_DIR/$1.pid"
  [[ -s "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}
# A daemon keeps every descriptor it inherits. One holding a caller's lock (`flock /tmp/holdfast-cluster.lock
# bash up.sh` opens the file as fd 3; our own cluster.lock is fd 9) would hold that lock for as long as the
# cluster runs, and every later `flock` waits forever. Closes all above stderr, in the subshell that execs it.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do fd="${fd##*/}"; ((fd > 2)) && eval "exec $fd>&-"; done
  return 0
}
start() { # name cmd... : start in its own session, log to $LOG_DIR/name.log
  local n="$1"; shift
  if running "$n"; then log "$n already running (pid $(cat "$RUN_DIR/$n.pid"))"; return; fi
  log "starting $n"
  # Every inherited descriptor above stderr is closed, not only our lock's (9): a daemon holding one keeps it
  # open for the cluster's life, e.g. the caller's `flock /tmp/holdfast-cluster.lock ...` lock, which then never
  # frees (seen: every waiter blocked until the cluster went down). `exec` keeps the pid the pidfile records.
  ( for fd in /proc/self/fd/*; do fd=${fd##*/}; ((fd > 2)) && eval "exec $fd>&-"; done; exec setsid "$@" ) \
    >>"$LOG_DIR/$n.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$n.pid"
}
wait_for() { # description timeout_s command...
  local d="$1" t="$2"; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || die "timed out after ${t}s waiting for $d (logs: $LOG_DIR)"
    sleep 0.5
  done
}
api() { # METHOD PATH [JSON] -> curl as admin
  local m="$1" p="$2" d="${3:-}"
  curl -sS --max-time 10 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" -X "$m" \
    ${d:+-H 'Content-Type: application/json' --data "$d"} "https://127.0.0.1:$APISERVER_PORT$p"
}
apply() { # PATH(collection) NAME JSON : create or replace
  local code
  code="$(curl -sS --max-time 10 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" -o /dev/null -w '%{http_code}' \
    -X POST -H 'Content-Type: application/json' --data "$3" "https://127.0.0.1:$APISERVER_PORT$1")"
  if [[ "$code" == 409 ]]; then
    code="$(curl -sS --max-time 10 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" -o /dev/null -w '%{http_code}' \
      -X PATCH -H 'Content-Type: application/merge-patch+json' --data "$3" "https://127.0.0.1:$APISERVER_PORT$1/$2")"
  fi
  [[ "$code" =~ ^20 ]] || die "applying $1/$2 failed: HTTP $code"
}

# ---------- 1. etcd ----------
start etcd "$BIN_ETCD" --name holdfast --data-dir "$CLUSTER_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "holdfast=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
  --quota-backend-bytes 2147483648 --log-level warn
wait_for etcd 60 curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

# ---------- 2. kube-apiserver ----------
start kube-apiserver "$BIN_APISERVER" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
  --secure-port "$APISERVER_PORT" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" --token-auth-file "$PKI/tokens.csv" --authorization-mode Node,RBAC \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" --endpoint-reconciler-type none \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
  --enable-admission-plugins NodeRestriction --allow-privileged=true --profiling=false --v=1
wait_for kube-apiserver 120 bash -c "curl -sf --max-time 2 --cacert '$PKI/ca.crt' --cert '$PKI/admin.crt' --key '$PKI/admin.key' https://127.0.0.1:$APISERVER_PORT/readyz"

# ---------- 3. controller-manager, scheduler ----------
start kube-controller-manager "$BIN_CM" --kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" --authorization-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 10257 --leader-elect=false --use-service-account-credentials=true \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false --profiling=false --v=1
start kube-scheduler "$BIN_SCHED" --kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
  --authentication-kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" --authorization-kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 10259 --leader-elect=false --profiling=false --v=1

# ---------- 4. network: our bridge (pods' gateway and the node IP), CNI config ----------
echo 1 > /proc/sys/net/ipv4/ip_forward
if ! ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then
  ip link add "$CNI_BRIDGE" type bridge
fi
# Not `ip addr show | grep -q`: grep quits at the match, ip gets SIGPIPE on its next lines, pipefail fails the
# test and `ip addr add` dies with "Address already assigned" (exit 2; seen on a second up.sh).
[[ "$(ip addr show dev "$CNI_BRIDGE")" == *"inet $NODE_IP/"* ]] || ip addr add "$NODE_IP/$POD_GW_PREFIX" dev "$CNI_BRIDGE"
ip link set "$CNI_BRIDGE" up
# bridged pod-to-pod packets must traverse netfilter for NetworkPolicy (br_netfilter is built in here)
echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables
cat > "$CLUSTER_DIR/cni/net.d/10-holdfast.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "holdfast",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$CLUSTER_DIR/cni/ipam"
      }
    }
  ]
}
JSON

# ---------- 5. containerd ----------
mkdir -p "$CONTAINERD_ROOT" "$CONTAINERD_STATE"
cat > "$CLUSTER_DIR/containerd.toml" <<TOML
version = 2
root = "$CONTAINERD_ROOT"
state = "$CONTAINERD_STATE"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_DIR/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/holdfast/pause:local"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # this VM denies lowering oom_score_adj (runc: "failed to update /proc/self/oom_score_adj: Permission denied"
  # for the kubelet's -998 on sandboxes); clamp to containerd's own score instead
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_DIR/cni/net.d"
    max_conf_num = 1
TOML
start containerd /usr/bin/containerd --config "$CLUSTER_DIR/containerd.toml" --log-level warn
wait_for containerd 60 ctr -a "$CONTAINERD_SOCK" version
bash "$CLUSTER_SCRIPTS/images.sh" import

# ---------- 6. kubelet ----------
echo "nameserver 127.0.0.1" > "$CLUSTER_DIR/resolv.conf"   # pods get no DNS that leaves this machine
cat > "$CLUSTER_DIR/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$PKI/kubelet-serving.crt"
tlsPrivateKeyFile: "$PKI/kubelet-serving.key"
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: "unix://$CONTAINERD_SOCK"
resolvConf: "$CLUSTER_DIR/resolv.conf"
podLogsDir: "$CLUSTER_DIR/pod-logs"
clusterDomain: cluster.local
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"}
serializeImagePulls: false
maxPods: 50
featureGates: {ContainerCheckpoint: true}
YAML
start kubelet "$BIN_KUBELET" --config "$CLUSTER_DIR/kubelet-config.yaml" --kubeconfig "$CLUSTER_DIR/kubelet.kubeconfig" \
  --root-dir "$KUBELET_ROOT" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1

# ---------- 7. RBAC for kube-network-policies; wait for the node ----------
apply /apis/rbac.authorization.k8s.io/v1/clusterroles holdfast:kube-network-policies '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"holdfast:kube-network-policies"},"rules":[{"apiGroups":[""],"resources":["pods","namespaces","nodes"],"verbs":["get","list","watch"]},{"apiGroups":["networking.k8s.io"],"resources":["networkpolicies"],"verbs":["get","list","watch"]}]}'
apply /apis/rbac.authorization.k8s.io/v1/clusterrolebindings holdfast:kube-network-policies '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"holdfast:kube-network-policies"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"holdfast:kube-network-policies"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"holdfast:kube-network-policies"}]}'

node_ready() {
  api GET "/api/v1/nodes/$NODE_NAME" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const n=JSON.parse(s);const c=(n.status&&n.status.conditions||[]).find(c=>c.type==="Ready");process.exit(c&&c.status==="True"?0:1)})'
}
wait_for "node $NODE_NAME Ready" 180 node_ready
log "node $NODE_NAME is Ready"

# default service account must exist before pods can be created in "default"
wait_for "default service account" 60 bash -c "curl -sf --max-time 2 --cacert '$PKI/ca.crt' --cert '$PKI/admin.crt' --key '$PKI/admin.key' https://127.0.0.1:$APISERVER_PORT/api/v1/namespaces/default/serviceaccounts/default"

# ---------- 8. NetworkPolicy enforcement ----------
if ((NETPOL)); then
  # kube-network-policies only supports in-cluster config: give it a private mount namespace with a
  # service-account-like token directory (static token user holdfast:kube-network-policies, RBAC above).
  SA_DIR="$CLUSTER_DIR/knp-sa"; mkdir -p "$SA_DIR"
  cut -d, -f1 "$PKI/tokens.csv" | tr -d '\n' > "$SA_DIR/token"; cp "$PKI/ca.crt" "$SA_DIR/ca.crt"; echo -n default > "$SA_DIR/namespace"
  start kube-network-policies env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$APISERVER_PORT" \
    unshare --mount --propagation private bash -c "mount -t tmpfs -o size=1m,mode=0755 holdfast-knp /run && mkdir -p /run/secrets/kubernetes.io && ln -s '$SA_DIR' /run/secrets/kubernetes.io/serviceaccount && exec '$BIN_KNP' --hostname-override '$NODE_NAME' --nfqueue-id 100 --disable-nri --netfilter-bug-1766-fix=false --metrics-bind-address 127.0.0.1:19080 --v=2"
  # This kernel has no nft "queue" expression (CONFIG_NFT_QUEUE unset), so kube-network-policies' own nftables
  # rules are rejected. Substitute: the same hook with iptables' NFQUEUE target (xt, built in) — new connections
  # from/to pod IPs go to queue 100, where kube-network-policies evaluates them.
  if ! iptables -t mangle -S HOLDFAST-NETPOL >/dev/null 2>&1; then
    iptables -w -t mangle -N HOLDFAST-NETPOL
    iptables -w -t mangle -A HOLDFAST-NETPOL -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
    iptables -w -t mangle -A HOLDFAST-NETPOL -m owner --uid-owner 0 -j RETURN
    iptables -w -t mangle -A HOLDFAST-NETPOL -s "$POD_CIDR" -j NFQUEUE --queue-num 100
    iptables -w -t mangle -A HOLDFAST-NETPOL -d "$POD_CIDR" -j NFQUEUE --queue-num 100
  fi
  iptables -w -t mangle -C POSTROUTING -j HOLDFAST-NETPOL 2>/dev/null || iptables -w -t mangle -A POSTROUTING -j HOLDFAST-NETPOL
  wait_for "kube-network-policies nfqueue 100" 60 bash -c "awk '\$1==100' /proc/net/netfilter/nfnetlink_queue | grep -q ."
fi

log "cluster up in $((SECONDS - T0))s; admin kubeconfig: $KUBECONFIG_ADMIN (logs: $LOG_DIR)"
echo "$KUBECONFIG_ADMIN"
