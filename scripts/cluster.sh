#!/usr/bin/env bash
# A local swarm that stays up, for playing with Synapse on one machine:
#   scripts/cluster.sh up [N]     N nodes (default 3), each in its own network namespace with its
#                                 own address (10.214.0.1..N), home and mount point
#   scripts/cluster.sh status     each node's peers, storage, jobs, mount and status page
#   scripts/cluster.sh down       stops the nodes, unmounts, deletes the namespaces and the folder
# Everything lives in $SYNAPSE_CLUSTER_DIR (default /var/tmp/synapse-cluster). Use a node with
#   build/cli/synapse --home /var/tmp/synapse-cluster/node1 status
#   ls /var/tmp/synapse-cluster/mnt2
#   cp job.toml /var/tmp/synapse-cluster/mnt3/jobs/
# and open its status page at http://10.214.0.1:9477/ from this machine. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
if ((EUID != 0)); then
  exec sudo --preserve-env=PATH,SYNAPSE_CLUSTER_DIR,SYNAPSE_CLUSTER_PREFIX,SYNAPSE_CLUSTER_TAG,SYNAPSE_BIN \
    "$0" "$@"
fi

SWARM_DIR=${SYNAPSE_CLUSTER_DIR:-/var/tmp/synapse-cluster}
SWARM_TAG=${SYNAPSE_CLUSTER_TAG:-cl}  # names its namespaces synapse-cl-*
SWARM_PREFIX=${SYNAPSE_CLUSTER_PREFIX:-10.214.0}
SYNAPSE=${SYNAPSE_BIN:-$PWD/build/cli/synapse}  # SYNAPSE_BIN: a program built already
source scripts/lib/swarm.sh
state=$SWARM_DIR/cluster.env

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

count_of() { [[ -f $state ]] && sed -n 's/^count=//p' "$state" || echo 0; }

up() {
  local count=${1:-3} i
  [[ $count =~ ^[0-9]+$ ]] && ((count >= 1 && count <= 50)) || { echo "N must be 1..50" >&2; exit 2; }
  if [[ -f $state ]]; then
    echo "a cluster of $(count_of) nodes is already up in $SWARM_DIR (scripts/cluster.sh down first)" >&2
    exit 1
  fi
  if [[ -z ${SYNAPSE_BIN:-} ]]; then
    scripts/install-deps.sh
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j"$(nproc)" --target synapse
  fi
  mkdir -p "$SWARM_DIR"
  echo "count=$count" >"$state"
  # A failure half-way takes down what was made.
  trap 'echo "cluster: up failed; taking it down" >&2; swarm_down '"$count"'; rm -rf "$SWARM_DIR"' ERR
  swarm_network_up "$count"
  swarm_homes "$count"
  for ((i = 1; i <= count; i++)); do swarm_start "$i"; done
  local all=()
  for ((i = 1; i <= count; i++)); do all+=("$i"); done
  if ((count > 1)); then swarm_wait_peers "${all[@]}"; fi
  trap - ERR
  status
}

status() {
  local count i
  count=$(count_of)
  if ((count == 0)); then
    echo "no cluster is up (scripts/cluster.sh up N)"
    return 0
  fi
  printf '%-6s %-14s %-8s %-22s %-28s %s\n' NODE ADDRESS STATE PEERS/STORED/JOBS MOUNT "STATUS PAGE"
  for ((i = 1; i <= count; i++)); do
    local line
    line=$(swarm_cli "$i" status --json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
j = s.get("jobs", {})
print("%d peers, %d MiB, %d run" % (s["peers"], s.get("store", {}).get("bytes", 0) >> 20, j.get("running", 0)))
' 2>/dev/null) || line=""
    local running=up
    [[ -n $line ]] || { running=down; line=-; }
    local mounted
    mounted=$(mountpoint -q "$(swarm_mount "$i")" && swarm_mount "$i" || echo "(not mounted)")
    printf '%-6s %-14s %-8s %-22s %-28s %s\n' "node$i" "$(swarm_address "$i")" "$running" "$line" \
      "$mounted" "http://$(swarm_address "$i"):9477/"
  done
  echo "homes: $SWARM_DIR/node<N>   e.g. $SYNAPSE --home $SWARM_DIR/node1 jobs"
}

down() {
  local count
  count=$(count_of)
  if ((count == 0)); then
    echo "no cluster is up"
    return 0
  fi
  swarm_down "$count"
  rm -rf "$SWARM_DIR"
  echo "cluster of $count nodes is down"
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  status) status ;;
  down) down ;;
  *) usage ;;
esac
