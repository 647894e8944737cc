#!/usr/bin/env bash
# warden builds itself: clones this repository (its committed HEAD) into a fresh directory
# and runs `warden build` there under the repository's own warden.toml — enforce mode, an
# exec allowlist, network denied, packages resolved from the machine's local mirror. Passes
# when the build exits 0 with no denial and no enforce mismatch and the built warden runs.
# A debug build of warden from scratch: about a minute on two cores.
#   dogfood.sh [WARDEN]   (default .build/debug/warden; run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
warden=$(realpath "${1:-.build/debug/warden}")
[[ -x $warden ]] || { echo "dogfood: $warden is not built" >&2; exit 1; }
dir=$(mktemp -d /var/lib/warden-dogfood-XXXXXX)
trap 'rm -rf "$dir"' EXIT
git clone -q "$PWD" "$dir/warden"
cd "$dir/warden"
git_before=$(find .git -printf '%P %s %T@\n' | sort)
status=0
"$warden" build 2> >(tee "$dir/build.err" >&2) || status=$?
# The run's last line names its event log (in warden's state directory).
log=$(sed -n 's/.*; log \(.*\)$/\1/p' "$dir/build.err" | tail -n 1)
python3 - "$status" "$log" <<'PY'
import json, os, sys
status, log = int(sys.argv[1]), sys.argv[2]
records = [json.loads(l) for l in open(log) if l.strip()]
events = [r for r in records if r.get("type") == "event"]
denied = [r["path_or_addr"] for r in events if r["verdict"] == 1 and "expected_refusal" not in r]
metrics = json.load(open(os.path.join(os.path.dirname(log), "warden-metrics.json")))
problems = []
if status != 0: problems.append(f"warden build exited {status}")
if denied: problems.append(f"denied: {sorted(set(denied))}")
if metrics["enforce_mismatches"]: problems.append(f"{metrics['enforce_mismatches']} enforce mismatch(es)")
if not any(r["action_name"] == "exec" and r["path_or_addr"].endswith("git-core/git") for r in events):
    problems.append("git's exec-path helper never ran: package resolution was not exercised")
print("dogfood: " + ("; ".join(problems) if problems else f"warden built itself under its own warden.toml ({len(events)} events, 0 denied)"))
sys.exit(1 if problems else 0)
PY
git_after=$(find .git -printf '%P %s %T@\n' | sort)
if [[ $git_after != "$git_before" ]]; then
  echo "dogfood: .git changed during the build:" >&2
  diff <(echo "$git_before") <(echo "$git_after") >&2
  exit 1
fi
.build/debug/warden --version
