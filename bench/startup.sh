#!/usr/bin/env bash
# Fixed cost of a run: `/bin/true` bare, under `warden run` (enforce, observe: every layer
# proven by its canary, the BPF objects loaded), bwrap and `strace -f`, interleaved, ROUNDS
# rounds (default 15). Issue 16's goal: enforce at most 40 ms over bare (median).
# Needs root and a release build (.build/release/warden, or WARDEN=path).
source "$(dirname "$0")/common.sh"
ROUNDS=${ROUNDS:-15}
mkdir "$work/bare" "$work/enforce" "$work/observe"
for mode in enforce observe; do printf 'net.default = "allow"\n' > "$work/$mode/warden.toml"; done
BARE_DIR=$work/bare ENFORCE_DIR=$work/enforce OBSERVE_DIR=$work/observe
mapfile -t runs < <(variants /bin/true)
echo "/bin/true, $ROUNDS rounds, $(nproc) CPUs, kernel $(uname -r)"
compare "$ROUNDS" "${runs[@]}"
