#!/usr/bin/env bash
# Hosts on one machine, as network namespaces, for the cluster's tests and measurements.
#
#   cluster_hosts.sh up ID N RATE   N hosts sn-ID-1 … sn-ID-N, host i at 10.213.0.i/24 on eth0,
#                                   each link capped at RATE (tc's syntax, e.g. 1gbit) both ways
#   cluster_hosts.sh down ID        kills every process in the run's namespaces, deletes them
#   cluster_hosts.sh link ID I up|down   connects or cuts host I's link (at the switch's port)
#   cluster_hosts.sh watch ID DIR   waits for end-of-file on standard input, then `down ID` and
#                                   removes the run's scratch directory DIR
#   cluster_hosts.sh stale          `down` for every run whose process (ID) no longer exists
#
# ID is the process id of the run that owns the hosts, optionally _K for its K-th set, so runs in
# parallel never share a name and the leftovers of a run that died are recognised. The switch — a Linux bridge — lives in its own
# namespace sn-ID-sw, so nothing of a run is in the machine's own namespace: the 10.213.0.0/24
# addresses exist only on these links, and deleting the run's namespaces deletes every veth and
# the bridge with them.
set -euo pipefail

namespaces() { ip netns list | awk '{print $1}' | grep -E "^sn-$1-(sw|[0-9]+)\$" || true; }

down() {
  local ns
  for ns in $(namespaces "$1"); do
    # A namespace with a process still inside outlives `ip netns del`: kill them all first.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  done
  for ns in $(namespaces "$1"); do ip netns del "$ns" 2>/dev/null || true; done
}

up() {
  local id=$1 n=$2 rate=$3 sw="sn-$1-sw" i ns
  # tbf needs a bucket of at least rate/HZ; 1 MiB holds 1 Gbit/s at HZ 100 and up.
  local shape=(tbf rate "$rate" burst 1mb latency 50ms)
  ip netns add "$sw"
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  for ((i = 1; i <= n; i++)); do
    ns="sn-$id-$i"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # Created in the host's namespace under its final names, so no name in the machine's own
    # namespace is ever taken, even for a moment.
    ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$sw"
    ip -n "$ns" addr add "10.213.0.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$sw" link set "p$i" master br0 up
    tc -n "$ns" qdisc add dev eth0 root "${shape[@]}"
    tc -n "$sw" qdisc add dev "p$i" root "${shape[@]}"
  done
}

case "${1:-}" in
  up) [ $# = 4 ] || { echo "usage: $0 up ID N RATE" >&2; exit 2; }
    up "$2" "$3" "$4" || { status=$?; down "$2"; exit "$status"; } ;;
  down) down "$2" ;;
  link) ip -n "sn-$2-sw" link set "p$3" "$4" ;;
  watch) read -r _ || :; down "$2"; rm -rf "$3" ;;
  stale)
    for id in $(ip netns list | awk '{print $1}' | sed -nE 's/^sn-([0-9]+(_[0-9]+)?)-(sw|[0-9]+)$/\1/p' | sort -u); do
      kill -0 "${id%%_*}" 2>/dev/null || down "$id"
    done ;;
  *) echo "usage: $0 up ID N RATE | down ID | link ID I up|down | watch ID DIR | stale" >&2; exit 2 ;;
esac
