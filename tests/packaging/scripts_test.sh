#!/usr/bin/env bash
# The README's first command and its companion, on the built program: scripts/demo.sh runs its
# whole story to the end (it fails on any wrong byte or job), and scripts/cluster.sh brings a
# two-node swarm up, reports it and takes it down, leaving no namespace, mount or process.
#   scripts_test.sh SYNAPSE_BINARY
set -euo pipefail
cd "$(dirname "$0")/../.."
export SYNAPSE_BIN=$1
if ((EUID != 0)) || [[ ! -w /dev/fuse ]]; then
  echo "SKIP: needs root and /dev/fuse"
  exit 77
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
out=$(mktemp -d "${TMPDIR:-/tmp}/synapse-scripts-test-XXXXXX")
trap 'rm -rf "$out"' EXIT
leftovers() {  # namespaces, mounts and nodes of the scripts still there
  { ip netns list | grep -E "^synapse-(d[0-9]+|ct[0-9]+)-" || true
    grep -E " fuse.synapse " /proc/mounts | grep -E "synapse-demo-|synapse-cluster-test" || true; }
}

echo "== scripts/demo.sh"
SYNAPSE_DEMO_PREFIX=10.215.0 timeout 300 scripts/demo.sh >$out/demo.out 2>&1 || { cat $out/demo.out; fail "demo.sh"; }
grep -q "Done:" $out/demo.out || fail "the demo did not reach its end"
[[ -z $(leftovers) ]] || fail "the demo left: $(leftovers)"

echo "== scripts/cluster.sh"
export SYNAPSE_CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/synapse-cluster-test-XXXXXX")
export SYNAPSE_CLUSTER_PREFIX=10.216.0
export SYNAPSE_CLUSTER_TAG=ct$$  # not the namespaces of a cluster someone runs here
trap 'scripts/cluster.sh down >/dev/null 2>&1 || true; rm -rf "$SYNAPSE_CLUSTER_DIR" "$out"' EXIT
rmdir "$SYNAPSE_CLUSTER_DIR"
timeout 120 scripts/cluster.sh up 2 >$out/up.out 2>&1 || { cat $out/up.out; fail "cluster.sh up"; }
status=$(scripts/cluster.sh status)
echo "$status"
[[ $(grep -c " up .*1 peers" <<<"$status") == 2 ]] || fail "both nodes up with 1 peer each"
timeout 10 scripts/cluster.sh up 2 >/dev/null 2>&1 && fail "a second up must refuse"
curl -sf "http://10.216.0.1:9477/healthz" >/dev/null || fail "node 1's HTTP server from this host"
timeout 60 scripts/cluster.sh down
[[ -z $(leftovers) ]] || fail "the cluster left: $(leftovers)"
[[ ! -e $SYNAPSE_CLUSTER_DIR ]] || fail "the cluster's folder is still there"
echo PASS
