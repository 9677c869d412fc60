#!/usr/bin/env bash
# The main job: sets up this machine, builds Synapse, and walks through what it does today:
# a node identity, a swarm key, adding a file as content-addressed blocks (IPFS-compatible
# CIDs), reading it back whole and by range, pins and garbage collection, and a membership
# certificate from a swarm CA; then a three-node swarm on this machine whose nodes find each
# other by LAN discovery, share DHT records and files, and mount the shared folder: a file
# copied in on one node is read on another, and a job copied into the spool runs in a sandbox
# and leaves its outputs in the shared tree. Everything lives in a temporary folder that is
# removed on exit or Ctrl-C, and every node started here is stopped and unmounted.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target synapse
synapse_bin=$PWD/build/cli/synapse

work=$(mktemp -d "${TMPDIR:-/tmp}/synapse-demo-XXXXXX")
stop_nodes() {
  for home in "$work"/node*; do
    [[ -S "$home/control.sock" ]] && "$synapse_bin" --home "$home" down >/dev/null 2>&1 || true
  done
  for mount in "$work"/mnt-*; do
    mountpoint -q "$mount" 2>/dev/null && { fusermount3 -u -z "$mount" 2>/dev/null || umount -l "$mount"; }
  done
  return 0
}
trap 'stop_nodes; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
export SYNAPSE_HOME=$work/node

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }  # shows the command, then runs it
synapse() { "$synapse_bin" "$@"; }

say "A node identity (Ed25519; the node ID is the SHA-256 of its public key)"
run synapse init
ls -l "$SYNAPSE_HOME"

say "A swarm key, the secret every member of the swarm holds (IPFS swarm.key format)"
run synapse swarm new -o "$SYNAPSE_HOME/swarm.key"
run synapse swarm id

say "Adding 64 MiB of data: it is chunked, hashed and stored as verified blocks"
head -c $((64 << 20)) /dev/urandom >"$work/data.bin"
cid=$(run synapse add "$work/data.bin")
echo "$cid"

say "Reading it back by CID: the bytes are identical"
synapse cat "$cid" | sha256sum
sha256sum <"$work/data.bin"

say "A byte range reads only the blocks that hold it"
run synapse cat "$cid" --offset 1000000 --length 16 | od -An -tx1
dd if="$work/data.bin" bs=1 skip=1000000 count=16 status=none | od -An -tx1

say "The same bytes give the same CID as IPFS (kubo's defaults)"
printf 'hello world\n' | run synapse add - --preset kubo-default

say "The store: blocks, pins, capacity"
run synapse repo stat
run synapse pin ls

say "Unpinned blocks are garbage; pinned ones survive garbage collection"
printf 'temporary\n' | run synapse add - --no-pin
run synapse repo gc
run synapse repo verify

say "Membership certificates from a swarm CA (optional; the CA key stays off the nodes)"
run synapse ca init --ca-dir "$work/ca" >/dev/null
node_id=$(synapse id)
run synapse ca sign "$node_id" --name demo-node --roles storage,compute --days 30 \
  --ca-dir "$work/ca" -o "$work/demo-node.cert"
run synapse cert install "$work/demo-node.cert"
run synapse cert show

say "A swarm of three nodes on this machine, each mounting the shared folder"
for name in node-b node-c; do
  synapse --home "$work/$name" init >/dev/null
  cp "$SYNAPSE_HOME/swarm.key" "$work/$name/swarm.key"
done
chmod 711 "$work"  # jobs run as nobody and reach their folders and inputs below here
for name in a b c; do mkdir -p "$work/mnt-$name"; done
# Each node keeps its running jobs' folders in the demo's folder (default: /var/tmp as root).
for home in "$SYNAPSE_HOME" "$work/node-b" "$work/node-c"; do
  sed -i "s|^# work_dir = .*|work_dir = \"$home-jobs\"|" "$home/config.toml"
done
run synapse up --detach --listen 127.0.0.1:0 --mount "$work/mnt-a"
run synapse --home "$work/node-b" up --detach --listen 127.0.0.1:0 --mount "$work/mnt-b"
run synapse --home "$work/node-c" up --detach --listen 127.0.0.1:0 --mount "$work/mnt-c"

say "They found each other by encrypted multicast beacons: no addresses were configured"
run synapse --home "$work/node-c" peers
run synapse --home "$work/node-b" status

say "A DHT record written on one node is read on another"
run synapse dht put greeting "hello from $(synapse id | cut -c1-8)"
run synapse --home "$work/node-c" dht get greeting
run synapse dht provide "$cid"
run synapse --home "$work/node-b" dht providers "$cid"

say "A file added on one node is read on another, fetched from every node that holds it"
head -c 20000000 /dev/urandom > "$work/data.bin"
shared=$(synapse add -q "$work/data.bin")
echo "$shared"
run synapse --home "$work/node-c" get "$shared" -o "$work/copy.bin"
run cmp "$work/data.bin" "$work/copy.bin"
echo "identical"

say "Every pinned file is kept on 3 nodes (store.replication): the adder copied it to the others"
for attempt in $(seq 1 100); do
  holders=$(synapse pin ls --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["holders"] or 0)')
  [[ "$holders" -ge 3 ]] && break
  sleep 0.2
done
run synapse pin ls
run synapse --home "$work/node-c" peers

say "The shared folder: a file copied in on node A is read on node C, a second later"
run mkdir "$work/mnt-a/datasets"
run cp "$work/data.bin" "$work/mnt-a/datasets/data.bin"
echo "hello from node A" > "$work/mnt-a/datasets/README"
sleep 1.1  # close-to-open across nodes: an open 1 s after the close sees the new content
run ls -l "$work/mnt-c/datasets"
run cmp "$work/data.bin" "$work/mnt-c/datasets/data.bin"
echo "identical"
run cat "$work/mnt-c/datasets/README"

say "Renames on one node are seen everywhere; the live peers and content IDs are files too"
run mv "$work/mnt-b/datasets/README" "$work/mnt-b/datasets/README.txt"
sleep 1.1
run ls "$work/mnt-a/datasets"
run ls "$work/mnt-a/.peers"
run cat "$work/mnt-a/.peers/$(ls "$work/mnt-a/.peers" | head -1)"
run cmp "$work/data.bin" "$work/mnt-c/.cid/$shared"
echo "identical (by content ID)"

say "A job: a spec copied into jobs/ on node B runs in a sandbox on one of the nodes"
cat > "$work/checksum.toml" <<'SPEC'
# Checksums of the shared datasets, computed wherever the swarm finds room.
command = ["sh", "-c", "cd /in && sha256sum * > /out/sums && echo checked $(ls | wc -l) files"]
inputs = { "/in" = "/synapse/datasets" }
outputs = { "/out" = "/synapse/results/checksum" }
[resources]
cpus = 1
memory = "256M"
timeout = "1m"
SPEC
run cat "$work/checksum.toml"
run cp "$work/checksum.toml" "$work/mnt-b/jobs/"
for attempt in $(seq 1 300); do
  state=$(cat "$work/mnt-b/jobs/checksum/state" 2>/dev/null || true)
  [[ "$state" == succeeded || "$state" == failed || "$state" == rejected ]] && break
  sleep 0.1
done
run cat "$work/mnt-b/jobs/checksum/events.log"
sleep 1.1
say "Its state, logs and outputs are files on every node"
run ls "$work/mnt-a/jobs/checksum"
run cat "$work/mnt-a/jobs/checksum/stdout"
run cat "$work/mnt-a/results/checksum/sums"
(cd "$work/mnt-a/datasets" && run sha256sum data.bin)
run synapse jobs

say "Or from the command line: submit, wait, read its logs from another node"
printf 'command = "uname -n; id -un; ls /synapse 2>&1 || echo no shared folder in this sandbox"\n' > "$work/hello.toml"
run synapse --home "$work/node-c" job submit --wait "$work/hello.toml"
run synapse --home "$work/node-b" job logs hello

say "Stopping the nodes (each unmounts its folder)"
for home in "$SYNAPSE_HOME" "$work/node-b" "$work/node-c"; do
  run synapse --home "$home" down
done

say "Done."
