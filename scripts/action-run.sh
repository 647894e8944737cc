#!/usr/bin/env bash
# The GitHub Action's run step: the build under warden, then the SARIF report, the Markdown
# job summary ($GITHUB_STEP_SUMMARY) and the step's outputs (exit-code, denials, sarif).
# Exits non-zero as INPUT_FAIL_ON says. warden needs root to create the run's cgroup: on a
# hosted runner it runs through sudo, and `sudo env PATH="$PATH"` keeps the toolchain the
# job set up (sudo's secure_path would drop ~/.cargo/bin and the Swift toolchain); warden
# runs the build itself as the invoking user (SUDO_UID).
set -uo pipefail
warden=${WARDEN_BIN:-$(command -v warden)}
[[ -x $warden ]] || { echo "action-run: warden is not installed" >&2; exit 1; }
as_root=()
if [[ $(id -u) -ne 0 ]]; then as_root=(sudo env "PATH=$PATH"); fi
args=(--mode "${INPUT_MODE:-enforce}")
# would-deny and new-rules are warden's own --fail-on (exit 78 on drift, see the README).
case ${INPUT_FAIL_ON:-denials} in
  would-deny | new-rules) args+=(--fail-on "$INPUT_FAIL_ON") ;;
  denials | never) ;;
  *) echo "action-run: fail-on must be denials, would-deny, new-rules or never, not '$INPUT_FAIL_ON'" >&2; exit 2 ;;
esac
while IFS= read -r p; do [[ -n $p ]] && args+=(--policy "$p"); done <<< "${INPUT_POLICY:-}"
# The inputs are the workflow author's own text, split as the shell would (quotes kept).
if [[ -n ${INPUT_COMMAND:-} ]]; then
  eval "command=(${INPUT_COMMAND})"
  "${as_root[@]}" "$warden" run "${args[@]}" -- "${command[@]}"
else
  eval "extra=(${INPUT_ARGS:-})"
  "${as_root[@]}" "$warden" build "${args[@]}" -- "${extra[@]}"
fi
code=$?
sarif=${INPUT_SARIF-warden.sarif}
[[ -n $sarif ]] && "$warden" report --format sarif --output "$sarif"
"$warden" report --format markdown >> "${GITHUB_STEP_SUMMARY:-/dev/stdout}"
denials=$("$warden" report --format json | python3 -c 'import json, sys; print(json.load(sys.stdin)["violations_total"])' 2>/dev/null || echo 0)
{
  echo "exit-code=$code"
  echo "denials=$denials"
  echo "sarif=${sarif:+$(pwd)/$sarif}"
} >> "${GITHUB_OUTPUT:-/dev/null}"
case ${INPUT_FAIL_ON:-denials} in
  never) exit 0 ;;
  *) [[ $code -eq 0 ]] || { echo "warden: exit code $code (77: enforce mode denied something; 78: --fail-on found drift)" >&2; exit "$code"; } ;;
esac
