#!/usr/bin/env bash
# Proves the VM harness can fail, since the tier-1 claim rests on it: a qemu that cannot
# start, a guest command that fails (including status 128, which used to wrap to 0), and a
# suite with one failing check or no summary must each make vm-test.sh / vm-matrix.sh fail;
# a passing command must pass. About half a minute of VM boots under TCG.
set -uo pipefail
cd "$(dirname "$0")/.."
fails=0
expect() { # expect NAME WANTED-STATUS COMMAND...
  local name=$1 want=$2 got
  shift 2
  "$@" > /tmp/vm-harness-check.log 2>&1
  got=$?
  if [[ $want == nonzero && $got -ne 0 ]] || [[ $want == "$got" ]]; then
    echo "ok   $name (status $got)"
  else
    echo "FAIL $name: wanted $want, got $got"; tail -5 /tmp/vm-harness-check.log; fails=$((fails + 1))
  fi
}
expect "a guest command that succeeds passes" 0 scripts/vm-test.sh true
expect "qemu that cannot start fails" 125 env VMTEST_ACCEL=bogus scripts/vm-test.sh true
expect "a guest command that exits 1 fails with 1" 1 scripts/vm-test.sh sh -c 'exit 1'
expect "a guest status of 128 is not 0" nonzero scripts/vm-test.sh sh -c 'exit 128'
fake=$(mktemp /var/lib/vm-harness-suite.XXXXXX)
trap 'rm -f "$fake"' EXIT
printf 'echo "ok   one"\necho "FAIL two"\necho "vm-suite: 1 passed, 1 failed"\nexit 0\n' > "$fake"
expect "a suite with a failing check fails the matrix" nonzero env VMMATRIX_SUITE="$fake" scripts/vm-matrix.sh tier2
printf 'echo "ok   one"\nexit 0\n' > "$fake"
expect "a suite without its summary fails the matrix" nonzero env VMMATRIX_SUITE="$fake" scripts/vm-matrix.sh tier2
printf 'echo "ok   one"\necho "vm-suite: 1 passed, 0 failed"\nexit 0\n' > "$fake"
expect "a suite that passes passes the matrix" 0 env VMMATRIX_SUITE="$fake" scripts/vm-matrix.sh tier2
echo "vm-harness-check: $((7 - fails)) passed, $fails failed"
exit $((fails > 0))
