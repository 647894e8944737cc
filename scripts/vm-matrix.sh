#!/usr/bin/env bash
# The kernel matrix for tier 1: boots Debian's kernel (CONFIG_BPF_LSM=y) three times under
# qemu with different lsm= lists and runs scripts/vm-suite.sh in each with the warden
# built on the host (.build/debug/warden: run scripts/test.sh or swift build first).
#   1. lsm=…,landlock,bpf  tier 1 (BPF LSM) proven by its canary, Landlock alongside
#   2. lsm=…,bpf           tier 1 alone (no Landlock): the BPF LSM programs enforce everything
#   3. lsm=…,landlock      BPF LSM loads but never runs (the Ubuntu / GitHub runner case):
#                          the canary catches it and warden uses Landlock, never claims tier 1
# The host kernel (tier 2) is covered by scripts/test.sh. Exit status: 0 when all pass.
#   vm-matrix.sh [tier1-with-landlock | tier1-alone | tier2]   one entry (a CI step each)
set -uo pipefail
cd "$(dirname "$0")/.."
[[ -x .build/debug/warden ]] || { echo "vm-matrix: .build/debug/warden is not built" >&2; exit 1; }
status=0
# VMMATRIX_SUITE replaces the suite (scripts/vm-harness-check.sh proves the matrix fails).
suite=${VMMATRIX_SUITE:-scripts/vm-suite.sh}
run() {
  local lsm=$1 expect=$2 log
  log=$(mktemp)
  echo "=== vm-matrix: lsm=$lsm, expecting $expect"
  # Passed only when the VM reported 0 and the suite ran to its summary with no failure: a
  # VM that never booted, or a suite cut short, has no such line.
  if VMTEST_LSM=$lsm scripts/vm-test.sh sh "$suite" "$expect" > "$log" 2>&1 \
     && ! grep -q '^FAIL ' "$log" && grep -Eq '^vm-suite: [0-9]+ passed, 0 failed' "$log"; then
    grep -E '^(ok|FAIL) |^vm-suite: ' "$log"
  else
    # The whole console: a VM that did not boot shows why here.
    cat "$log"
    echo "=== vm-matrix: lsm=$lsm FAILED"
    status=1
  fi
  rm -f "$log"
}
only=${1:-}
[[ -z $only || $only == tier1-with-landlock ]] && run lockdown,capability,landlock,bpf tier1-with-landlock
[[ -z $only || $only == tier1-alone ]] && run lockdown,capability,bpf tier1-alone
[[ -z $only || $only == tier2 ]] && run lockdown,capability,landlock tier2
case $only in "" | tier1-with-landlock | tier1-alone | tier2) ;; *) echo "vm-matrix: unknown entry $only" >&2; exit 2 ;; esac
exit $status
