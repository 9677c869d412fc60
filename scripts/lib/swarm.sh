# Shared by scripts/demo.sh and scripts/cluster.sh: a swarm of N nodes on this machine, each in
# its own network namespace with its own address, home and mount point. Source it, set
#   SWARM_DIR     the swarm's folder (homes, mounts, logs)
#   SWARM_TAG     a short name for the namespaces and links, at most 8 characters ("d1234")
#   SWARM_PREFIX  the first three octets of its private /24 (e.g. 10.213.0)
#   SYNAPSE       the synapse binary
# then call the functions. Namespaces: synapse-$TAG-hub holds a bridge; synapse-$TAG-<i> holds
# node i at $SWARM_PREFIX.<i>, joined to the bridge by a veth pair; this host joins it too at
# $SWARM_PREFIX.254, so that the nodes' HTTP servers (metrics, status page) can be opened from
# here. The range exists only on this machine; nothing is routed anywhere else.

swarm_ns() { echo "synapse-$SWARM_TAG-$1"; }
# Link names (at most 15 characters): node i's end, its bridge end, this host's end.
swarm_link() { echo "s$SWARM_TAG-$1"; }
swarm_bridge_link() { echo "s$SWARM_TAG-b$1"; }
swarm_host_link() { echo "s$SWARM_TAG-h"; }
swarm_home() { echo "$SWARM_DIR/node$1"; }
swarm_mount() { echo "$SWARM_DIR/mnt$1"; }
swarm_address() { echo "$SWARM_PREFIX.$1"; }
# Runs a command in node i's network namespace only (its FUSE mount stays visible here).
swarm_in() {
  local i=$1
  shift
  nsenter --net="/run/netns/$(swarm_ns "$i")" "$@"
}
swarm_cli() {
  local i=$1
  shift
  "$SYNAPSE" --home "$(swarm_home "$i")" "$@"
}

# Creates the hub, the namespaces of nodes 1..N and this host's link to them.
swarm_network_up() {
  local count=$1 hub host_link i
  if ip -4 -o addr show | grep -q " $SWARM_PREFIX\."; then
    echo "$SWARM_PREFIX.0/24 is in use on this machine; set another prefix" >&2
    return 1
  fi
  hub=$(swarm_ns hub)
  host_link=$(swarm_host_link)
  ip netns add "$hub"
  ip -n "$hub" link add br0 type bridge mcast_snooping 0
  ip -n "$hub" link set br0 up
  ip link add "$host_link" type veth peer name host0
  ip link set host0 netns "$hub"
  ip -n "$hub" link set host0 master br0 up
  ip addr add "$SWARM_PREFIX.254/24" dev "$host_link"
  ip link set "$host_link" up
  for ((i = 1; i <= count; i++)); do
    ip netns add "$(swarm_ns "$i")"
    ip link add "$(swarm_link "$i")" type veth peer name "$(swarm_bridge_link "$i")"
    ip link set "$(swarm_link "$i")" netns "$(swarm_ns "$i")"
    ip link set "$(swarm_bridge_link "$i")" netns "$hub"
    ip -n "$hub" link set "$(swarm_bridge_link "$i")" master br0 up
    ip -n "$(swarm_ns "$i")" addr add "$(swarm_address "$i")/24" dev "$(swarm_link "$i")"
    ip -n "$(swarm_ns "$i")" link set "$(swarm_link "$i")" up
    ip -n "$(swarm_ns "$i")" link set lo up
  done
}

# Homes for nodes 1..N sharing one new swarm key; jobs' folders in the swarm's folder; a store
# without fsync (a demo's data can be made again) and replicas checked every 2 s.
swarm_homes() {
  local count=$1 i home
  mkdir -p "$SWARM_DIR"
  chmod 711 "$SWARM_DIR"  # jobs run as nobody and reach their folders below here
  "$SYNAPSE" swarm new -o "$SWARM_DIR/swarm.key" >/dev/null
  for ((i = 1; i <= count; i++)); do
    home=$(swarm_home "$i")
    "$SYNAPSE" --home "$home" init >/dev/null
    install -m 0600 "$SWARM_DIR/swarm.key" "$home/swarm.key"
    mkdir -p "$(swarm_mount "$i")"
    sed -i -e "s|^# work_dir = .*|work_dir = \"$SWARM_DIR/jobs$i\"|" \
      -e "s|^listen = \"127.0.0.1:9477\"|listen = \"$(swarm_address "$i"):9477\"|" \
      -e "s|^# name = .*|name = \"node$i\"|" \
      -e 's|^sync = true|sync = false|' -e 's|^repair_interval = "30s"|repair_interval = "2s"|' \
      "$home/config.toml"
  done
}

# Starts node i in its namespace (detached; its log is <home>/synapse.log).
swarm_start() {
  local i=$1
  swarm_in "$i" "$SYNAPSE" --home "$(swarm_home "$i")" up --detach \
    --listen "$(swarm_address "$i"):4747" --mount "$(swarm_mount "$i")" >/dev/null
}

# Waits (at most 30 s) until each of the given nodes has every other as a peer.
swarm_wait_peers() {
  local want=$(($# - 1)) i attempt peers
  for i in "$@"; do
    for ((attempt = 0; attempt < 300; attempt++)); do
      peers=$(swarm_cli "$i" status --json 2>/dev/null |
        python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["peers"] if s["joined"] else 0)' \
          2>/dev/null || echo 0)
      ((peers >= want)) && break
      sleep 0.1
    done
    ((peers >= want)) || { echo "node $i found $peers of $want peers" >&2; return 1; }
  done
}

# Stops node i cleanly if it runs (bounded), and detaches its mount if it is left.
swarm_stop() {
  local i=$1 home mount pid
  home=$(swarm_home "$i")
  mount=$(swarm_mount "$i")
  if [[ -S "$home/control.sock" ]]; then
    pid=$("$SYNAPSE" --home "$home" status --json 2>/dev/null |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null || true)
    timeout 20 "$SYNAPSE" --home "$home" down >/dev/null 2>&1 || { [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null; }
  fi
  if mountpoint -q "$mount" 2>/dev/null; then
    fusermount3 -u -z "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
  fi
  return 0
}

# Stops nodes 1..N and deletes every namespace of the swarm; safe to call more than once.
swarm_down() {
  local count=$1 i
  for ((i = 1; i <= count; i++)); do swarm_stop "$i"; done
  for ((i = 1; i <= count; i++)); do ip netns del "$(swarm_ns "$i")" 2>/dev/null || true; done
  ip netns del "$(swarm_ns hub)" 2>/dev/null || true
  ip link del "$(swarm_host_link)" 2>/dev/null || true
  return 0
}
