#!/usr/bin/env bash
# Runs the README's first command exactly as written (the first ```sh block under "The two
# commands") from the repository root, then checks what it should have left: a finished
# observe-mode run of `make` in examples/make with exit code 0, and the program built.
# The README says to leave out `sudo` when already root; where sudo is not installed and
# we are root, that is what this does.
set -euo pipefail
cd "$(dirname "$0")/.."
command=$(awk '/^## The two commands/ { section = 1 } section && /^```sh$/ { inblock = 1; next }
               inblock && /^```$/ { exit } inblock { print }' README.md | head -n 1)
[[ -n $command ]] || { echo "readme-check: no first command found in README.md" >&2; exit 1; }
if [[ $(id -u) -eq 0 ]] && ! command -v sudo >/dev/null; then
  command=${command//sudo /}
fi
rm -f examples/make/hello
echo "readme-check: $command"
output=$(mktemp)
trap 'rm -f "$output"' EXIT
bash -euo pipefail -c "$command" 2> >(tee "$output" >&2)
# The run's last line names its event log (in warden's state directory).
log=$(sed -n 's/.*; log \(.*\)$/\1/p' "$output" | tail -n 1)
[[ -n $log ]] || { echo "readme-check: warden named no event log" >&2; exit 1; }
python3 - "$log" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
last = max(i for i, r in enumerate(records) if r.get("type") == "run")
run = records[last:]
start, end = run[0], [r for r in run if r.get("type") == "run_end"]
ok = (start["mode"] == "observe" and start["command"] == ["make"] and len(end) == 1 and end[0]["exit_code"] == 0
      and any(r.get("type") == "event" and r.get("action_name") == "exec" and r["path_or_addr"].endswith("/make") for r in run))
print("readme-check: " + ("the first command built warden and ran make under it in observe mode" if ok else "FAILED: " + json.dumps([start] + end)))
sys.exit(0 if ok else 1)
PY
[[ -x examples/make/hello ]] || { echo "readme-check: examples/make/hello was not built" >&2; exit 1; }
