#!/usr/bin/env bash
# cluster/make-test-certs.sh DIR [NODE_ID…]: test certificates, never for production.
# - Client TLS and the client-certificate second factor (--tls-cert, --tls-client-ca): a test CA
#   (ca), a server certificate for 127.0.0.1/localhost, two client certificates from that CA
#   (alice, bob), and a client certificate from another CA (mallory).
# - Peer links (--peer-tls-cert, --peer-tls-key, --peer-tls-ca): a cluster CA (cluster-ca), its own
#   CA, never the client CA, and for each NODE_ID (default n_1 n_2 n_3) peer-NODE_ID.pem/.key,
#   naming the node id as its DNS subject alternative name (and CN), for server and client use.
#   rogue-NODE_ID.pem/.key names the first node id but comes from the client CA: peers refuse it.
set -euo pipefail
dir=${1:?usage: make-test-certs.sh DIR [NODE_ID…]}
shift
nodes=("$@")
[ ${#nodes[@]} -gt 0 ] || nodes=(n_1 n_2 n_3)
mkdir -p "$dir"
cd "$dir"
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
ca() {  # ca NAME
  ec "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=Tsunagu Test $1" 2>/dev/null
}
leaf() {  # leaf NAME CA EXT [CN]
  ec "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=${4:-$1}" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" -days 1 \
    -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca
ca other-ca
leaf server ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
for who in alice bob; do leaf "$who" ca "extendedKeyUsage=clientAuth"; done
leaf mallory other-ca "extendedKeyUsage=clientAuth"

ca cluster-ca
node_ext() { printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth' "$1"; }
for node in "${nodes[@]}"; do leaf "peer-$node" cluster-ca "$(node_ext "$node")" "$node"; done
leaf "rogue-${nodes[0]}" ca "$(node_ext "${nodes[0]}")" "${nodes[0]}"
chmod 600 ./*.key
echo "made ca.pem, server.pem/.key, alice/bob (ca), mallory (other-ca); cluster-ca.pem, peer-{${nodes[*]}}.pem/.key, rogue-${nodes[0]} (ca) in $dir"
