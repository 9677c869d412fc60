#!/usr/bin/env bash
# The .deb end to end (docs/packaging.md): CPack builds it from the build tree; it holds the
# binary, the unit, the tmpfiles entry, the man page, the bash completion and the service's
# config (a conffile); and the unit's own ExecStartPre/ExecStart lines, run by hand against the
# unpacked package (systemd does not run here), bring up a node that mounts its folder, joins a
# running swarm, logs for journald and stops cleanly on SIGTERM within 10 s.
#
#   deb_test.sh SYNAPSE_BINARY BUILD_DIR
# Needs root (FUSE mount). Everything lives in a temporary folder removed on exit; every node
# started here is stopped and its mount detached, also when a check fails.
set -euo pipefail
synapse=$1
build=$2
if ((EUID != 0)) || [[ ! -w /dev/fuse ]]; then
  echo "SKIP: needs root and /dev/fuse"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/synapse-deb-XXXXXX")
chmod 711 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  [[ -S "$work/seed/control.sock" ]] && "$synapse" --home "$work/seed" down >/dev/null 2>&1
  mountpoint -q "$work/mnt" 2>/dev/null && umount -l "$work/mnt"
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Polls `condition` (a command) every 0.1 s for at most $1 seconds.
wait_for() {
  local seconds=$1
  shift
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}

echo "== the package"
cpack --config "$build/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/pkg/synapse_*.deb)
info=$(dpkg-deb -I "$deb")
grep -q "^ Depends:.*fuse3" <<<"$info" || fail "no Depends on fuse3: $info"
grep -q "^ Depends:.*libbotan" <<<"$info" || fail "shared libraries not in Depends: $info"
[[ $(dpkg-deb -I "$deb" conffiles) == /etc/synapse/config.toml ]] || fail "conffiles"
contents=$(dpkg-deb -c "$deb")
for file in ./usr/bin/synapse ./usr/lib/systemd/system/synapse.service \
  ./usr/lib/tmpfiles.d/synapse.conf ./usr/share/man/man1/synapse.1.gz \
  ./usr/share/bash-completion/completions/synapse ./etc/synapse/config.toml \
  ./usr/share/doc/synapse/quickstart.md; do
  grep -q " $file\$" <<<"$contents" || fail "$file not in the package"
done
root=$work/root
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/synapse" --version | grep -q '^0\.' || fail "the packaged binary does not run"

echo "== the man page and the completion"
MANWIDTH=100 man -l "$root/usr/share/man/man1/synapse.1.gz" 2>/dev/null >"$work/man.txt"
grep -q "synapse job submit" "$work/man.txt" || fail "man page lacks synapse job submit"
grep -q "SIGHUP" "$work/man.txt" || fail "man page lacks SIGNALS"
completed=$(bash -c 'source "$1"; COMP_WORDS=(synapse jo); COMP_CWORD=1; _synapse
  echo "${COMPREPLY[*]}"; COMP_WORDS=(synapse job s); COMP_CWORD=2; _synapse
  echo "${COMPREPLY[*]}"; COMP_WORDS=(synapse up --mo); COMP_CWORD=2; _synapse
  echo "${COMPREPLY[*]}"' _ "$root/usr/share/bash-completion/completions/synapse")
[[ $completed == $'job jobs\nsubmit status\n--mount' ]] || fail "completion gave: $completed"

echo "== a running swarm of one"
"$synapse" --home "$work/seed" init >/dev/null
"$synapse" --home "$work/seed" swarm new -o "$work/seed/swarm.key" >/dev/null
sed -i 's|^listen = "127.0.0.1:9477"|listen = "127.0.0.1:0"|' "$work/seed/config.toml"
"$synapse" --home "$work/seed" up --detach --listen 127.0.0.1:0 --no-discovery >/dev/null
seed=$("$synapse" --home "$work/seed" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["listen"])')

echo "== the unit's ExecStart, by hand, on the unpacked package"
unit=$root/usr/lib/systemd/system/synapse.service
relocate() { sed -e "s|/usr/bin/synapse|$root/usr/bin/synapse|g" -e "s|/var/lib/synapse|$work/var/lib/synapse|g" \
  -e "s|/etc/synapse|$root/etc/synapse|g"; }
pre=$(sed -n 's/^ExecStartPre=//p' "$unit" | relocate)
start=$(sed -n 's/^ExecStart=//p' "$unit" | relocate)
[[ -n $pre && -n $start ]] || fail "no ExecStartPre/ExecStart in the unit"
config=$root/etc/synapse/config.toml
cp "$work/seed/swarm.key" "$root/etc/synapse/swarm.key"
chmod 600 "$root/etc/synapse/swarm.key"
mkdir -p "$work/mnt" "$work/var/lib"
# This machine is not a dedicated host: its own paths, free ports, the seed to join.
sed -i -e "s|/etc/synapse|$root/etc/synapse|" -e "s|^mount = \"/synapse\"|mount = \"$work/mnt\"|" \
  -e 's|^listen = "0.0.0.0:4747"|listen = "127.0.0.1:0"|' -e "s|^bootstrap = \[\]|bootstrap = [\"$seed\"]|" \
  -e 's|^listen = "127.0.0.1:9477"|listen = "127.0.0.1:0"|' \
  -e "s|^# work_dir = .*|work_dir = \"$work/jobs\"|" "$config"
python3 - "$config" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read().replace("[discovery]\nenabled = true", "[discovery]\nenabled = false", 1)
open(path, "w").write(text)
PY
$pre >/dev/null
JOURNAL_STREAM=8:1 $start >"$work/service.log" 2>&1 &
pids+=($!)
service=$!
home=$work/var/lib/synapse
joined() {
  "$synapse" --home "$home" status --json 2>/dev/null |
    python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["peers"] >= 1 else 1)' 2>/dev/null
}
wait_for 30 joined || { cat "$work/service.log"; fail "the service's node did not join the swarm"; }
mountpoint -q "$work/mnt" || fail "the service's node did not mount $work/mnt"
echo "hello from the service" >"$work/mnt/hello.txt"
grep -q '^<6>\[' "$work/service.log" || fail "no journald priority prefixes: $(head -3 "$work/service.log")"

echo "== SIGTERM"
started=$(date +%s%N)
kill -TERM "$service"
code=0
wait "$service" || code=$?
took_ms=$((($(date +%s%N) - started) / 1000000))
pids=()
((code == 0)) || { cat "$work/service.log"; fail "exit code $code after SIGTERM"; }
((took_ms < 10000)) || fail "stopping took $took_ms ms"
! mountpoint -q "$work/mnt" || fail "still mounted after SIGTERM"
echo "stopped in $took_ms ms"
echo "PASS"
