#!/usr/bin/env bash
# The main job: sets up this machine, builds Synapse, and walks through what it does today:
# a node identity, a swarm key, adding a file as content-addressed blocks (IPFS-compatible
# CIDs), reading it back whole and by range, pins and garbage collection, and a membership
# certificate from a swarm CA. Everything lives in a temporary folder that is removed on exit
# or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target synapse
synapse_bin=$PWD/build/cli/synapse

work=$(mktemp -d "${TMPDIR:-/tmp}/synapse-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
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

say "Done. (Multi-node swarms, the /synapse mount and jobs come with the next milestones.)"
