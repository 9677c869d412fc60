#!/usr/bin/env bash
# Installs every Debian package that building, testing and running Synapse need.
# Idempotent and non-interactive: packages already present are skipped, so a second run is
# quick and needs no network. Why each package is here: docs/dependencies.md.
set -euo pipefail

packages=(
  # Toolchain and build.
  build-essential cmake ninja-build pkg-config git clang-format
  # Libraries (headers + shared objects).
  libbotan-2-dev liblmdb-dev libmsgpack-cxx-dev libcli11-dev libexpected-dev
  libtomlplusplus-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libuv1-dev libfuse3-dev
  prometheus-cpp-dev libcivetweb-dev
  # Tests.
  libgtest-dev libgmock-dev
  # Fuzzing (libFuzzer ships with clang's runtime).
  clang libclang-rt-14-dev
  # Runtime tools: FUSE mounts, sandboxes, network namespaces for multi-host tests.
  fuse3 bubblewrap iproute2 procps coreutils time bc curl
  runc
  # The status page's end-to-end test: headless Chromium.
  chromium
  # Packet captures in the transport's network-namespace test.
  tcpdump
  # The reference peer of bench/dht_real: OpenDHT's node and its Python binding.
  dhtnode python3-opendht
  # The reference of bench/exchange: scp between two network namespaces.
  openssh-server openssh-client
  # The reference of bench/jobs: Slurm (slurmctld, slurmd, sbatch) and its authentication.
  slurm-wlm munge
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if ((EUID != 0)); then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
