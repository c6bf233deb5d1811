# Shared settings for scripts/cluster/*.sh (sourced, not run).
# shellcheck shell=bash
set -euo pipefail

CLUSTER_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLUSTER_SCRIPTS/../.." && pwd)"
VERSIONS_JSON="$REPO_ROOT/scripts/versions.json"
HOLDFAST_CACHE_DIR="${HOLDFAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/holdfast}"
CACHE_BIN="$HOLDFAST_CACHE_DIR/bin"
CLUSTER_DIR="${HOLDFAST_CLUSTER_DIR:-/var/lib/holdfast-cluster}"
POD_CIDR="${HOLDFAST_POD_CIDR:-10.88.0.0/16}"
SERVICE_CIDR="${HOLDFAST_SERVICE_CIDR:-10.96.0.0/16}"
CNI_BRIDGE="${HOLDFAST_CNI_BRIDGE:-hfcni0}"
NODE_NAME="${HOLDFAST_NODE_NAME:-holdfast-node}"
ETCD_PORT="${HOLDFAST_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${HOLDFAST_ETCD_PEER_PORT:-23800}"
APISERVER_PORT="${HOLDFAST_APISERVER_PORT:-16443}"
KUBELET_PORT="${HOLDFAST_KUBELET_PORT:-10250}"
CONTAINERD_ROOT="$CLUSTER_DIR/containerd"
CONTAINERD_STATE="/run/holdfast-cluster/containerd"
CONTAINERD_SOCK="/run/holdfast-cluster/containerd/containerd.sock"
KUBELET_ROOT="$CLUSTER_DIR/kubelet"
RUN_DIR="/run/holdfast-cluster"
LOG_DIR="$CLUSTER_DIR/logs"

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# versions.json field: ver NAME FIELD
ver() {
  node -e 'const v=require(process.argv[1]); const e=v[process.argv[2]]; if(!e||e[process.argv[3]]===undefined){process.exit(3)}; process.stdout.write(String(e[process.argv[3]]))' "$VERSIONS_JSON" "$1" "$2"
}
