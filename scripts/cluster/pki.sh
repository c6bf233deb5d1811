# Certificates and kubeconfigs for the local cluster (sourced by up.sh). Generated once, kept in $CLUSTER_DIR/pki.
# shellcheck shell=bash
PKI="$CLUSTER_DIR/pki"

_cert() { # name CN O(optional, "" none) SANs(optional, "" none) usage(server|client|both)
  local n="$1" cn="$2" o="$3" sans="$4" use="$5"
  [[ -s "$PKI/$n.crt" && -s "$PKI/$n.key" ]] && return
  local subj="/CN=$cn"; [[ -n "$o" ]] && subj="/O=$o$subj"
  local ext="$PKI/$n.ext" eku
  case "$use" in server) eku=serverAuth ;; client) eku=clientAuth ;; *) eku="serverAuth,clientAuth" ;; esac
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"; echo "extendedKeyUsage=$eku"
    [[ -n "$sans" ]] && echo "subjectAltName=$sans"; } > "$ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$n.key" 2>/dev/null
  openssl req -new -key "$PKI/$n.key" -subj "$subj" -out "$PKI/$n.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$n.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 3650 \
    -extfile "$ext" -out "$PKI/$n.crt" 2>/dev/null
  rm -f "$PKI/$n.csr" "$ext"
}

_kubeconfig() { # file user-cert-name
  local f="$1" n="$2"
  [[ -s "$f" ]] && return
  cat > "$f" <<KC
apiVersion: v1
kind: Config
clusters:
- name: holdfast-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $n
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$n.crt")
    client-key-data: $(base64 -w0 < "$PKI/$n.key")
contexts:
- name: holdfast-local
  context: {cluster: holdfast-local, user: $n}
current-context: holdfast-local
KC
  chmod 0600 "$f"
}

make_pki() {
  mkdir -p "$PKI"; chmod 0700 "$PKI"
  if [[ ! -s "$PKI/ca.crt" ]]; then
    log "generating cluster CA and certificates in $PKI"
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=holdfast-local-ca" -days 3650 -out "$PKI/ca.crt" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  fi
  [[ -s "$PKI/sa.key" ]] || { openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null; openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null; }
  _cert apiserver kube-apiserver "" "IP:127.0.0.1,IP:${SERVICE_CIDR%.*/*}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" server
  _cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" client
  _cert kubelet-serving "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE_NAME,DNS:localhost" server
  _cert kubelet-client "system:node:$NODE_NAME" system:nodes "" client
  _cert admin holdfast-admin system:masters "" client
  _cert controller-manager system:kube-controller-manager "" "" client
  _cert scheduler system:kube-scheduler "" "" client
  _cert kube-network-policies holdfast:kube-network-policies "" "" client
  _kubeconfig "$CLUSTER_DIR/admin.kubeconfig" admin
  _kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" controller-manager
  _kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" scheduler
  _kubeconfig "$CLUSTER_DIR/kubelet.kubeconfig" kubelet-client
  _kubeconfig "$CLUSTER_DIR/kube-network-policies.kubeconfig" kube-network-policies
}
