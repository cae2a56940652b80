#!/usr/bin/env bash
# cluster/netns.sh: separate "hosts" on one machine as Linux network namespaces, for cluster tests
# and trials (docs/cluster.md, "Several hosts on one machine").
#
#   netns.sh create BRIDGE_CIDR HOST=ADDRESS…   a bridge tsu-br in the root namespace with
#                                              BRIDGE_CIDR (e.g. 10.77.0.1/24), and for each HOST
#                                              a namespace tsu-HOST with loopback up and one veth
#                                              (eth0, ADDRESS/prefix) to the bridge. Clients stay in
#                                              the root namespace and reach every host through it.
#   netns.sh destroy                           kills every process in a tsu-* namespace, deletes
#                                              them and the bridge (also leftovers of a crashed run)
#   netns.sh exec HOST COMMAND…                runs COMMAND in HOST's namespace
#   netns.sh partition HOST PEER_ADDRESS…      HOST and the peers drop each other's packets
#                                              (blackhole routes both ways); the store, the
#                                              balancer and the clients still reach HOST
#   netns.sh heal HOST PEER_ADDRESS…           removes those routes
#
# `create` exits 3 with one line saying why when this machine allows no namespaces (not root,
# or `ip netns add` fails), so a caller can fall back to distinct 127.0.0.x addresses.
set -euo pipefail
PREFIX=tsu-
BRIDGE=tsu-br

unavailable() { echo "network namespaces unavailable: $*" >&2; exit 3; }

destroy() {
  local ns link
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PREFIX" || true); do
    # heal partitions first: closing sockets then reach their peers instead of retrying into a
    # blackhole, which keeps the namespace alive (unnamed) for minutes
    ip -n "$ns" route flush type blackhole 2>/dev/null || true
    for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns delete "$ns" 2>/dev/null || true
  done
  # A veth goes with its namespace, but a namespace that lingers (sockets still closing) keeps
  # its pair: deleting the root side removes both ends now.
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^tsu-v' || true); do
    ip link delete "$link" 2>/dev/null || true
  done
  ip link delete "$BRIDGE" 2>/dev/null || true
}

create() {
  local bridge_cidr=${1:?usage: netns.sh create BRIDGE_CIDR HOST=ADDRESS…}
  shift
  [ "$(id -u)" = 0 ] || unavailable "not root (ip netns needs CAP_SYS_ADMIN)"
  command -v ip >/dev/null || unavailable "no ip command (iproute2)"
  destroy
  ip netns add "${PREFIX}probe" 2>/dev/null || unavailable "ip netns add failed"
  ip netns delete "${PREFIX}probe"
  local prefix_len=${bridge_cidr#*/}
  ip link add "$BRIDGE" type bridge
  ip addr add "$bridge_cidr" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  local pair host address index=0
  for pair in "$@"; do
    host=${pair%%=*}
    address=${pair#*=}
    index=$((index + 1))
    ip netns add "$PREFIX$host"
    ip -n "$PREFIX$host" link set lo up
    # interface names are at most 15 bytes: the root side is named by position
    ip link add "tsu-v$index" type veth peer name eth0 netns "$PREFIX$host"
    ip link set "tsu-v$index" master "$BRIDGE" up
    ip -n "$PREFIX$host" addr add "$address/$prefix_len" dev eth0
    ip -n "$PREFIX$host" link set eth0 up
    echo "host $host: namespace $PREFIX$host, $address"
  done
}

blackhole() {  # blackhole add|del HOST PEER_ADDRESS…
  local action=$1 host=$2
  shift 2
  local own peer ns
  own=$(ip -n "$PREFIX$host" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
  for peer in "$@"; do
    ip -n "$PREFIX$host" route "$action" blackhole "$peer/32"
    # the peer's side: the namespace that holds that address
    for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX"); do
      if ip -n "$ns" -4 -o addr show dev eth0 2>/dev/null | grep -q " $peer/"; then
        ip -n "$ns" route "$action" blackhole "$own/32"
      fi
    done
  done
}

command=${1:?usage: netns.sh create|destroy|exec|partition|heal …}
shift
case $command in
  create) create "$@" ;;
  destroy) destroy ;;
  exec) host=${1:?usage: netns.sh exec HOST COMMAND…}; shift; exec ip netns exec "$PREFIX$host" "$@" ;;
  partition) blackhole add "$@" ;;
  heal) blackhole del "$@" ;;
  *) echo "netns.sh: unknown command $command" >&2; exit 2 ;;
esac
