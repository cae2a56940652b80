#!/usr/bin/env bash
# cluster/make-test-certs.sh DIR: a test CA, a server certificate for 127.0.0.1/localhost, two client
# certificates from that CA (alice, bob), and a client certificate from another CA (mallory) —
# for the client-certificate second factor (--tls-client-ca) in tests and trials. Never for production.
set -euo pipefail
dir=${1:?usage: make-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
ca() {  # ca NAME
  ec "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=Tsunagu Test $1" 2>/dev/null
}
leaf() {  # leaf NAME CA EXT
  ec "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
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
chmod 600 ./*.key
echo "made ca.pem, server.pem/.key, alice/bob (ca), mallory (other-ca) in $dir"
