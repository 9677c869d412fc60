#!/usr/bin/env bash
# The main job: sets up this machine, builds Synapse, and walks through what it does today:
# a node identity, a swarm key, adding a file as content-addressed blocks (IPFS-compatible
# CIDs), reading it back whole and by range, pins and garbage collection, and what happens to
# a corrupted block. Everything lives in a temporary folder that is removed on exit or Ctrl-C.
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
run() { printf '$ %s\n' "$*"; "$@"; }
synapse() { "$synapse_bin" "$@"; }

say "A node identity (Ed25519; the node ID is the SHA-256 of its public key)"
run synapse init
ls -l "$SYNAPSE_HOME"

say "A swarm key, the secret every member of the swarm holds (IPFS swarm.key format)"
run synapse swarm new -o "$SYNAPSE_HOME/swarm.key"
run synapse swarm id

say "Adding 64 MiB of data: it is chunked, hashed and stored as verified blocks"
head -c $((64 << 20)) /dev/urandom >"$work/data.bin"
cid=$(run synapse add "$work/data.bin" | tail -n 1)
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

say "Done. (Multi-node swarms, the /synapse mount and jobs come with the next milestones.)"
