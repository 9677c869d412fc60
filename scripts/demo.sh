#!/usr/bin/env bash
# The main job: sets up this machine, builds Synapse and tells its story on a swarm of three
# nodes, each in its own network namespace with its own address, home and mount point:
#   - a node identity, a swarm key, a file as content-addressed, verified blocks;
#   - the nodes find each other by encrypted LAN beacons (no addresses configured);
#   - a folder copied into the mount on node 1 is listed and checksummed on node 3;
#   - a job spec copied in on node 2 processes that folder in a sandbox, and its outputs show
#     on node 1;
#   - metrics and the status page of a node;
#   - node 1 stops, and its data is still there on the others.
# Everything lives in a temporary folder; nodes, mounts and namespaces are removed on exit,
# also on Ctrl-C or an error. Needs root (namespaces, FUSE): re-runs itself with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
if ((EUID != 0)); then exec sudo --preserve-env=PATH,SYNAPSE_BIN,SYNAPSE_DEMO_PREFIX "$0" "$@"; fi

if [[ -n ${SYNAPSE_BIN:-} ]]; then  # a program built already (the demo's own test)
  SYNAPSE=$SYNAPSE_BIN
else
  scripts/install-deps.sh
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target synapse
  SYNAPSE=$PWD/build/cli/synapse
fi

SWARM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/synapse-demo-XXXXXX")
SWARM_TAG=d$$
SWARM_PREFIX=${SYNAPSE_DEMO_PREFIX:-10.213.0}
source scripts/lib/swarm.sh
trap 'swarm_down 3; rm -rf "$SWARM_DIR"' EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*" >&2; "$@"; }  # shows the command, then runs it
synapse() { "$SYNAPSE" "$@"; }
on() { # on NODE COMMAND...: a synapse command against node NODE
  local i=$1
  shift
  printf '\033[2m[node %s] $ synapse %s\033[0m\n' "$i" "$*" >&2
  swarm_cli "$i" "$@"
}
work=$SWARM_DIR/scratch
mkdir -p "$work"
export SYNAPSE_HOME=$work/solo

say "A node identity (Ed25519; the node ID is the SHA-256 of its public key) and a swarm key"
run synapse init
run synapse swarm new -o "$SYNAPSE_HOME/swarm.key"
run synapse swarm id

say "Content addressing: a file becomes verified blocks under one CID (IPFS-compatible)"
head -c $((16 << 20)) /dev/urandom >"$work/data.bin"
cid=$(run synapse add "$work/data.bin")
echo "$cid"
synapse cat "$cid" | sha256sum
sha256sum <"$work/data.bin"
printf 'hello world\n' | run synapse add - --preset kubo-default
echo "(the CID \`ipfs add\` prints for the same bytes)"

say "Three nodes, each in its own network namespace ($SWARM_PREFIX.1-3), home and mount point"
swarm_network_up 3
swarm_homes 3
for i in 1 2 3; do
  printf '\033[2m[node %s] $ synapse up --detach --listen %s:4747 --mount %s\033[0m\n' \
    "$i" "$(swarm_address "$i")" "$(swarm_mount "$i")" >&2
  swarm_start "$i"
done
swarm_wait_peers 1 2 3
echo "No addresses were configured: they found each other by encrypted multicast beacons."
on 3 peers

say "Node 1: copy a folder into the shared folder"
mkdir -p "$work/books"
for title in alice moby-dick ulysses; do
  for ((n = 0; n < 4000; n++)); do echo "$title line $n: the quick brown fox jumps over the lazy dog"; done >"$work/books/$title.txt"
done
run cp -r "$work/books" "$(swarm_mount 1)/books"
sleep 1.1  # close-to-open across nodes: an open one second after the close sees the new files

say "Node 3: the same folder, the same bytes"
run ls -l "$(swarm_mount 3)/books"
(cd "$(swarm_mount 3)/books" && run sha256sum ./*.txt)
(cd "$work/books" && sha256sum ./*.txt | sed 's/$/   (the originals)/')
diff -r "$work/books" "$(swarm_mount 3)/books" >/dev/null || { echo "node 3 sees other bytes" >&2; exit 1; }

say "Node 2: a job spec copied into jobs/ runs in a sandbox where the swarm finds room"
cat >"$work/wordcount.toml" <<'SPEC'
# Counts the words of every book; runs wherever the swarm finds room, reads the shared folder
# read-only, writes its outputs atomically into the shared tree.
command = ["sh", "-c", "cd /in && wc -w *.txt | sort -n > /out/counts && echo counted $(ls | wc -l) books"]
inputs = { "/in" = "/synapse/books" }
outputs = { "/out" = "/synapse/results/wordcount" }
[resources]
cpus = 1
memory = "256M"
timeout = "1m"
SPEC
run cat "$work/wordcount.toml"
run cp "$work/wordcount.toml" "$(swarm_mount 2)/jobs/"
for ((attempt = 0; attempt < 600; attempt++)); do
  state=$(cat "$(swarm_mount 2)/jobs/wordcount/state" 2>/dev/null || true)
  [[ $state == succeeded || $state == failed || $state == rejected || $state == timed-out ]] && break
  sleep 0.1
done
run cat "$(swarm_mount 2)/jobs/wordcount/events.log"
[[ $state == succeeded ]] || { echo "the job ended ${state:-unfinished}" >&2; exit 1; }
on 2 jobs
sleep 1.1

say "Node 1: the job's state, logs and outputs are files here too"
run ls "$(swarm_mount 1)/jobs/wordcount"
run cat "$(swarm_mount 1)/jobs/wordcount/stdout"
run cat "$(swarm_mount 1)/results/wordcount/counts"

say "What an admin sees: synapse status, and metrics / a status page on http://$(swarm_address 1):9477/"
on 1 status
run curl -s "http://$(swarm_address 1):9477/metrics" | grep -E '^synapse_(peers|store_bytes|jobs_ended_total|fuse_operation_duration_seconds_count\{op="read"\}) '

say "Every file is kept on 3 live nodes (store.replication): node 1 has copied its files out"
replicated() {
  swarm_cli 1 status --json | python3 -c '
import json, sys
r = json.load(sys.stdin)["replication"]
print("%d of %d pinned files on %d nodes" % (r["files"] - r["under_target"] - r["unchecked"], r["files"], r["target"]))
sys.exit(0 if r["files"] and not r["under_target"] and not r["unchecked"] else 1)'
}
deadline=$((SECONDS + 30))
until replicated >/dev/null || ((SECONDS > deadline)); do sleep 0.2; done
replicated || on 1 pin ls || true

say "Node 1 stops; its files are still there: node 2, which never read them, fetches them from node 3"
on 1 down
run ls "$(swarm_mount 2)/books"
(cd "$(swarm_mount 2)/books" && run sha256sum ./*.txt)
diff -r "$work/books" "$(swarm_mount 2)/books" >/dev/null || { echo "node 2 lost the books" >&2; exit 1; }
run cat "$(swarm_mount 2)/results/wordcount/counts"
on 2 peers

say "Done: the nodes stop, the mounts and namespaces go. For a swarm that stays up: scripts/cluster.sh up 3"
